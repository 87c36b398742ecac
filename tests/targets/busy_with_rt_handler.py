"""A target whose only thread is busy in one long C call (no safe point comes soon), with a
handler for SIGRTMIN: another process sends it a stream of them (issue 17 #12)."""
import signal
import sys

received = []
signal.signal(signal.SIGRTMIN, lambda signum, frame: received.append(signum))
print("ready", flush=True)
total = sum(range(int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 10**8))
print("result", total == (int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 10**8) * ((int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 10**8) - 1) // 2, flush=True)
