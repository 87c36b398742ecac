"""The seed's case 2: one module-level str that only grows.  Python 2.7 and 3.x.

Prints "ready" once the string holds MEGABYTES MB, then keeps growing it
slowly and prints a heartbeat ("tick N LENGTH" and the gc settings) every half second.
"""

import gc
import sys
import time

_pure_string = ""
CHUNK = "qwertyuioplkmsjafdkhjkhsdfajkjsalkdfjslkfjklsasl" * 20


def gc_state():
    """The collector's settings, so a watcher can see that nothing changed them."""
    return "gc=%s debug=%d threshold=%s garbage=%d callbacks=%d" % (
        "on" if gc.isenabled() else "off", gc.get_debug(), ",".join(map(str, gc.get_threshold())),
        len(gc.garbage), len(getattr(gc, "callbacks", ())))


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

def grow_to(megabytes):
    global _pure_string
    while len(_pure_string) < megabytes * 1e6:
        _pure_string += CHUNK * 100


def keep_growing(chunk=CHUNK):
    """Grow by `chunk` a millisecond, forever, with a heartbeat every half second."""
    global _pure_string
    ticks = 0
    last = time.time()
    while True:
        _pure_string += chunk
        time.sleep(0.001)
        if time.time() - last >= 0.5:
            ticks += 1
            last = time.time()
            say("tick %d %d %s" % (ticks, len(_pure_string), gc_state()))


if __name__ == "__main__":
    grow_to(float(sys.argv[1]) if len(sys.argv) > 1 else 50)
    say("ready")
    keep_growing()
