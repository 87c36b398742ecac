"""A target whose only thread is busy in one long C call (no safe point comes soon), with a
handler for SIGRTMIN: another process sends it a stream of them (issue 17 #12).  Then it
waits, as a service would, so that a command reaching a safe point after the call has a
process to finish in (py-heap runs beside the target: inject/own_thread.py)."""
import signal
import sys
import time

received = []
signal.signal(signal.SIGRTMIN, lambda signum, frame: received.append(signum))
print("ready", flush=True)
total = sum(range(int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 10**8))
print("result", total == (int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 10**8) * ((int(sys.argv[1]) if len(sys.argv) > 1 else 4 * 10**8) - 1) // 2, flush=True)
while True:
    time.sleep(1)
