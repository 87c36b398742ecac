"""One thread that alternates a long C call holding the GIL (sum(range(N))) and a short sleep,
forever: no other thread.  A stop nearly always finds it in the C call, outside the eval loop;
only a stop during the sleep finds it waiting in a call CPython made.  Prints "ready" before
the first call, then "tick N ok=BOOL" after each call (ok: the sum came out right).
Arguments: N, and the sleep in seconds (0.1).  Python 2.7 and 3."""
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3 * 10**7
SLEEP = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
print("ready")
sys.stdout.flush()
ticks = 0
while True:
    total = sum(range(N))  # one C call: no bytecode boundary, no GIL release until it returns
    ticks += 1
    print("tick %d ok=%s" % (ticks, total == N * (N - 1) // 2))
    sys.stdout.flush()
    time.sleep(SLEEP)
