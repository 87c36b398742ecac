"""A module-level cache that the collector does not track: an exact dict whose keys and values are
all strs (300 keys to 35 KiB strs, about 10 MB), which CPython untracks however much it holds.
Python 3."""
import gc
import sys
import time

cache = {}
for i in range(300):
    cache["k%d" % i] = ("value %d " % i) * 4000
assert not gc.is_tracked(cache)
print("ready", flush=True)
n = 0
while True:
    time.sleep(0.5)
    n += 1
    sys.stdout.write("tick %d keys=%d\n" % (n, len(cache)))
    sys.stdout.flush()
