"""A service holding 40k records, with a worker thread that makes and drops more (none with argv[1]
"quiet": its RSS then moves only while something else runs in it): Python 2.7 and 3.x."""
import sys
import threading
import time

DATA = [dict(id=i, name="record %d" % i, tags=["a", "b"], blob="x" * 40) for i in range(40000)]


def churn():
    while True:
        junk = [{"i": i, "l": [i] * (i % 9)} for i in range(2000)]
        del junk
        time.sleep(0.01)


if sys.argv[1:] != ["quiet"]:
    worker = threading.Thread(target=churn)
    worker.daemon = True
    worker.start()
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(0.5)
