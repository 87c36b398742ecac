"""An idle service: some data, then nothing happens (its heap does not change).  Python 2.7 and 3.x."""
import sys
import time

records = [dict(id=i, name="record %d" % i, tags=["a", "b"]) for i in range(2000)]
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(1)
