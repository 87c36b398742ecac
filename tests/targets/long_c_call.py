"""The main thread holds the GIL in one long C call, with no other thread."""

import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3 * 10**8
print("ready", flush=True)
total = sum(range(N))  # one C call: no bytecode boundary, no GIL release until it returns
print("result %s" % (total == N * (N - 1) // 2), flush=True)
