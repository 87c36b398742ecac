"""One big reference cycle whose members each refer to much else.  Python 3.

    python wide_ring.py

A ring of 100 Link objects (each holds the next), every one also holding 10 lists of 10
lists of 10 distinct strs, kept with the collector on but a threshold it never reaches, so the ring
stays.  Prints "ready", then "tick N" every half second.
"""

import gc
import sys
import time

gc.set_threshold(1 << 30)


class Link(object):
    pass


def ring(size):
    links = [Link() for _ in range(size)]
    for i, link in enumerate(links):
        link.next = links[(i + 1) % size]
        for a in range(10):
            setattr(link, "a%d" % a, [["item %d.%d.%d.%d" % (i, a, j, k) for k in range(10)] for j in range(10)])


ring(100)
sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d\n" % ticks)
    sys.stdout.flush()
