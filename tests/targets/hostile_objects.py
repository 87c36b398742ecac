"""A target whose objects fight back: their own code must never run from a payload.

Usage: hostile_objects.py DIR   (DIR: where to write the module with an escape
sequence in its file name; the tests pass their tmp_path)

It holds objects whose __repr__ raises, loops forever or returns 50 MB; classes
whose __sizeof__ raises or loops; __getattr__, __getattribute__, properties and
a __class__ property that raise or loop; a metaclass whose __eq__, __hash__,
__repr__, __getattribute__ and __sizeof__ loop; dict keys whose __hash__/__eq__
loop; a Thread subclass whose name property loops; and strings, a global name,
a class name, a module name and a module file name with terminal escape
sequences in them.  With the collector off, cycles of these objects pile up.

Every trap is armed once the heap is set up, just before "ready": from then on
the target's own code never calls them, so a trap that goes off was called by
someone else.  Each heartbeat line says how many went off and a checksum of the
target's data, and whether guppy was imported into it: "tick N checksum=XXXXXXXX traps=0
gc=off ... guppy=0 ...".
"""

import gc
import importlib.util
import itertools
import operator
import os
import sys
import threading
import time
import zlib

ARMED = [False]
TRAPS = []  # names of the traps that went off
ESC = "\x1b[31m"
OSC = "\x1b]0;pwned\x07"


def trap(name):
    """True (and recorded) once armed: the caller then raises, loops or bloats."""
    if ARMED[0]:
        TRAPS.append(name)
        return True
    return False


def forever():
    while True:
        pass


class ReprRaises(object):
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        if trap("ReprRaises.__repr__"):
            raise ValueError("repr of ReprRaises")
        return "ReprRaises()"

    __str__ = __repr__


class ReprLoops(object):
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        if trap("ReprLoops.__repr__"):
            forever()
        return "ReprLoops()"

    __str__ = __repr__


class ReprHuge(object):
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        trap("ReprHuge.__repr__")
        return "x" * 50000000

    __str__ = __repr__


class SizeofRaises(object):
    def __init__(self, value):
        self.value = value

    def __sizeof__(self):
        if trap("SizeofRaises.__sizeof__"):
            raise RuntimeError("sizeof of SizeofRaises")
        return object.__sizeof__(self)


class SizeofLoops(list):
    """A big list whose __sizeof__ never returns: its size must come from list's own."""

    def __sizeof__(self):
        if trap("SizeofLoops.__sizeof__"):
            forever()
        return list.__sizeof__(self)

    def __len__(self):
        if trap("SizeofLoops.__len__"):
            forever()
        return list.__len__(self)

    def __repr__(self):
        if trap("SizeofLoops.__repr__"):
            forever()
        return "SizeofLoops()"


class AttrTraps(object):
    """Every attribute access through the class's own machinery goes off."""

    def __init__(self, value):
        self.value = value
        self.other = None

    def __getattribute__(self, name):
        if trap("AttrTraps.__getattribute__(%s)" % name):
            forever()
        return object.__getattribute__(self, name)

    def __getattr__(self, name):
        if trap("AttrTraps.__getattr__(%s)" % name):
            raise RuntimeError("no %s" % name)
        raise AttributeError(name)

    @property
    def prop(self):
        if trap("AttrTraps.prop"):
            raise RuntimeError("property raises")
        return 1

    @property
    def __class__(self):  # what isinstance() falls back to
        if trap("AttrTraps.__class__"):
            forever()
        return AttrTraps

    def __eq__(self, other):
        if trap("AttrTraps.__eq__"):
            forever()
        return self is other

    def __hash__(self):
        if trap("AttrTraps.__hash__"):
            forever()
        return id(self) >> 4

    def __len__(self):
        if trap("AttrTraps.__len__"):
            forever()
        return 0


class HostileMeta(type):
    """A metaclass: its classes' ==, hash, repr, attributes and size are its code."""

    def __eq__(cls, other):
        if trap("HostileMeta.__eq__"):
            forever()
        return cls is other

    def __hash__(cls):
        if trap("HostileMeta.__hash__"):
            forever()
        return id(cls) >> 4

    def __repr__(cls):
        if trap("HostileMeta.__repr__"):
            forever()
        return "<hostile class>"

    def __getattribute__(cls, name):
        if trap("HostileMeta.__getattribute__(%s)" % name):
            forever()
        return type.__getattribute__(cls, name)

    def __sizeof__(cls):
        if trap("HostileMeta.__sizeof__"):
            forever()
        return type.__sizeof__(cls)

    def __instancecheck__(cls, obj):
        if trap("HostileMeta.__instancecheck__"):
            forever()
        return type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub):
        if trap("HostileMeta.__subclasscheck__"):
            forever()
        return type.__subclasscheck__(cls, sub)


Guarded = HostileMeta("Guarded", (object,), {"__init__": lambda self, value: setattr(self, "value", value)})


class KeyTraps(object):
    """A dict key whose hash, == and repr go off."""

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        if trap("KeyTraps.__hash__"):
            forever()
        return 12345

    def __eq__(self, other):
        if trap("KeyTraps.__eq__"):
            forever()
        return self is other

    def __repr__(self):
        if trap("KeyTraps.__repr__"):
            forever()
        return "KeyTraps()"


class IntKey(int):
    def __repr__(self):
        if trap("IntKey.__repr__"):
            forever()
        return "IntKey()"

    __hash__ = int.__hash__


class StrTraps(str):
    def __repr__(self):
        if trap("StrTraps.__repr__"):
            forever()
        return "StrTraps()"

    def __getitem__(self, index):
        if trap("StrTraps.__getitem__"):
            forever()
        return str.__getitem__(self, index)

    def __len__(self):
        if trap("StrTraps.__len__"):
            forever()
        return str.__len__(self)

    def __radd__(self, other):
        if trap("StrTraps.__radd__"):
            forever()
        return other + str(self)

    __hash__ = str.__hash__


class HostileThread(threading.Thread):
    """A thread whose name and native_id are properties that loop."""

    @property
    def name(self):
        if trap("HostileThread.name"):
            forever()
        return self._name

    @name.setter
    def name(self, value):
        self._name = value

    @property
    def native_id(self):
        if trap("HostileThread.native_id"):
            forever()
        return self._native_id

    def run(self):
        while True:
            time.sleep(0.05)


EVIL_MODULE = '''
import time

class Evil(object):
    def __init__(self, value):
        self.value = value
        self.partner = None

Evil.__name__ = Evil.__qualname__ = "Evil%(esc)sName%(osc)s"
BLOB = b"%(esc)s" * 1000000

def pause():
    time.sleep(0.02)

def sleep_forever():
    while True:
        time.sleep(3600)

def leak_pairs(n):
    for i in range(n):
        a = Evil(i)
        b = Evil(i)
        a.partner = b
        b.partner = a
''' % {"esc": ESC.encode("unicode_escape").decode(), "osc": OSC.encode("unicode_escape").decode()}

EVIL_MODULE_NAME = "evil%smod%s" % (ESC, OSC)
ESC_GLOBAL = "esc%sglobal%s" % (ESC, OSC)


def load_evil_module(directory):
    path = os.path.join(directory, "evil%sfile%s.py" % (ESC, OSC))
    with open(path, "w") as f:
        f.write(EVIL_MODULE)
    spec = importlib.util.spec_from_file_location(EVIL_MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[EVIL_MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def leak_hostile_cycles(n):
    """Unreachable cycles of hostile objects (the collector is off)."""
    for i in range(n):
        a, b = AttrTraps(i), AttrTraps(i)
        a.other, b.other = b, a
        c, d = Guarded(i), Guarded(i)
        c.other, d.other = d, c
        e = ReprLoops(i)
        e.me = [e, KeyTraps(i)]
        f = SizeofRaises(i)
        f.table = {KeyTraps(i): f}


def build():
    holder = {}
    holder["evil"] = load_evil_module(sys.argv[1])
    holder["alive"] = [cls(i) for i in range(50) for cls in
                       (ReprRaises, ReprLoops, ReprHuge, SizeofRaises, AttrTraps, Guarded)]
    holder["sizeof_loops"] = SizeofLoops([None] * 2000000)  # 16 MB: the largest object
    holder["keyed"] = {KeyTraps(0): b"k" * 8000000, IntKey(7): ReprHuge(7), StrTraps("s" + ESC): ReprLoops(8)}
    globals()[ESC_GLOBAL] = (ESC + "red" + OSC) * 300000  # a 6.3 MB str held by a global with escapes in its name
    holder["thread"] = HostileThread(name="hostile" + ESC, daemon=True)
    holder["thread"].start()
    leak_hostile_cycles(200)
    holder["evil"].leak_pairs(300)
    # A thread that is always inside the evil module: its location shows the file name.
    threading.Thread(target=holder["evil"].sleep_forever, daemon=True).start()
    return holder


def checksum(holder):
    """A checksum of the target's own data, read without calling any trap."""
    h = zlib.crc32(globals()[ESC_GLOBAL].encode("utf-8"))
    h = zlib.crc32(holder["evil"].BLOB, h)
    h = zlib.crc32(str(list.__len__(holder["sizeof_loops"])).encode(), h)
    # No frame may hold the 8 MB value at a safe point: HOLDER would then not keep it alive
    # alone. zlib.crc32 lets go of the GIL over a big buffer, and a loop variable is still bound
    # at the eval-breaker check after a call returns. So the counts come from one chain of C
    # calls, and only the counts reach a local. (What made CI's run fall to 16 MB on 2026-12-03
    # was this frame's view and iterators of HOLDER["keyed"], kept by the payload after the
    # function returned: see the test.)
    values = dict.values(holder["keyed"])
    is_bytes = map(operator.is_, map(type, values), itertools.repeat(bytes))
    for count in list(map(bytes.count, itertools.compress(values, is_bytes), itertools.repeat(b"k"))):
        h = zlib.crc32(str(count).encode(), h)
    for obj in holder["alive"]:
        h = zlib.crc32(str(object.__getattribute__(obj, "value")).encode(), h)
    return "%08x" % (h & 0xFFFFFFFF)


def gc_state():
    return "gc=%s debug=%d garbage=%d" % ("on" if gc.isenabled() else "off", gc.get_debug(), len(gc.garbage))


if __name__ == "__main__":
    gc.disable()
    HOLDER = build()
    ARMED[0] = True
    print("ready", flush=True)
    ticks = 0
    last = time.time()
    while True:
        HOLDER["evil"].pause()
        if time.time() - last >= 0.5:
            ticks += 1
            last = time.time()
            HOLDER["evil"].leak_pairs(5)
            print("tick %d checksum=%s traps=%d %s guppy=%d %s" % (
                ticks, checksum(HOLDER), len(TRAPS), gc_state(), "guppy" in sys.modules, ",".join(TRAPS[:5])), flush=True)
