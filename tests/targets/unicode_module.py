# -*- coding: utf-8 -*-
"""A module of a non-ASCII class name, imported from a file written in argv[1].  Python 3.
Its class Ünï holds ITEMS, a list of 2,000 strs.  Prints "ready", then "tick N" every half second.
"""

import io
import os
import sys
import time

with io.open(os.path.join(sys.argv[1], "mody.py"), "w", encoding="utf-8") as f:
    f.write(u"class Ünï:\n    ITEMS = ['item %d' % i for i in range(2000)]\nSTORE = {}\n")
sys.path.insert(0, sys.argv[1])
import mody  # noqa: E402,F401

sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d\n" % ticks)
    sys.stdout.flush()
