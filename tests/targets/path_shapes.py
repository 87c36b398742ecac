"""Objects whose "Kept alive by" paths take the notations docs/usage.md explains.  Python 3.

* `_ssl -> <module>`: ssl imported; the _ssl extension module holds two big dicts (its error
  code tables) in its own C state, which no global spells;
* `(no path from a root found)`: a module object in no sys.modules, kept alive by a
  reference only C holds (a leaked reference count), whose global `data` is a 4 MB bytearray;
* `.__closure__[0].cell_contents`: a 3 MB bytearray that only a closure's cell keeps, the
  closure kept in a module-level dict of handlers;

Prints "ready", then "tick N" every half second.
"""

import ctypes
import ssl  # noqa: F401
import sys
import time
import types

scratch = types.ModuleType("scratch")
scratch.data = bytearray(4 << 20)
ctypes.pythonapi.Py_IncRef(ctypes.py_object(scratch))  # only C keeps it now
del scratch



def make_handler():
    cache = bytearray(3 << 20)

    def handler():
        return len(cache)
    return handler


HANDLERS = {"get": make_handler()}

sys.stdout.write("ready\n")
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.5)
    ticks += 1
    sys.stdout.write("tick %d\n" % ticks)
    sys.stdout.flush()
