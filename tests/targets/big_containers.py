"""Big objects deep inside big module-level containers (py-heap --largest's forward search).
Python 2.7 and 3.

CACHE, a dict of 25,000 small lists, one of which also holds a 5 MB bytearray; ROWS, a list
of 25,000 small lists, one of which holds a 4 MB bytearray; and PAIR, a tuple of a list of
30,000 ints and, after it, a list that holds a 3.5 MB bytearray.  The containers have more
items than the search reads at once (20,000), so their items are read a slice at a time, and
PAIR's small list is looked into before its big one.
Prints "ready", then "tick N" every half second.
"""

import sys
import time

CACHE = dict(("k%d" % i, [i]) for i in range(25000))
CACHE["k21337"].append(bytearray(5 << 20))
ROWS = [[i] for i in range(25000)]
ROWS[13210].append(bytearray(4 << 20))
PAIR = (list(range(1000, 31000)), [bytearray(7 << 19)])

sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d\n" % ticks)
    sys.stdout.flush()
