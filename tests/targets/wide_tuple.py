"""Tuples wider than the census reads in one go (16,384 items): WIDE, a global tuple of 20,000
distinct ints, and ROWS, a list holding a tuple of 30,000 distinct ints.  Python 2.7 and 3.
Prints "ready", then "tick N ok=BOOL" every half second, ok saying both still hold what they held.
"""

import sys
import time

WIDE = tuple(range(10 ** 6, 10 ** 6 + 20000))
ROWS = [tuple(range(2 * 10 ** 6, 2 * 10 ** 6 + 30000))]
EXPECTED = (sum(WIDE), sum(ROWS[0]))

sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d ok=%s\n" % (ticks, (sum(WIDE), sum(ROWS[0])) == EXPECTED))
    sys.stdout.flush()
