# gdb-memleak payload helpers shared by heap.py and cycles.py (runs INSIDE the target).
#
# The injector sends this file ahead of those payloads; run on their own they
# load it from beside themselves. Python 2.7 and 3.6+; names start with "_".
# _GDBML_MODS lists every module the payloads may import, so that _mod_cleanup()
# can unregister the ones that were not imported before.
#
# No code of the target's own may run from here: no repr()/str()/len()/hash()/==
# /getattr()/isinstance() on target objects or on their classes (a metaclass can
# define __eq__, __hash__, __getattribute__, a __class__ property ...).  Objects
# are looked at through type(o), identity, id(), the C-level descriptors of
# `type`, `object` and `dict`, gc.get_referents and the exact built-in types.
# No import statement either: modules come from __gdb_memleak_module__ (the quiet block).

# The quiet block (_gdb_memleak_quiet.py) has run before this file: sent first by the
# injector, or loaded first by the payload's own loader when it runs on its own.


sys = __gdb_memleak_state__['sys']
gc = __gdb_memleak_state__['gc']
_GDBML_MODS = ('gc', 'itertools', 'operator', '_operator', '_collections', 'io', 'StringIO', 'cStringIO')


def _modules():
    # sys.modules as a plain dict view: the attribute can be rebound by the target
    m = sys.modules
    if type(m) is dict:
        return m
    if issubclass(type(m), dict):
        return dict.copy(m)
    return {}


def _module(name):
    """A module built into the interpreter, or already imported; None otherwise (see the quiet block)."""
    return __gdb_memleak_module__(__gdb_memleak_state__, name)


_gdbml_had = [_m for _m in _GDBML_MODS if _m in _modules() and _m not in __gdb_memleak_state__['loaded']]
_it = _module('itertools')


def _mod_cleanup():
    m = sys.modules
    if not issubclass(type(m), dict):
        return
    for name in _GDBML_MODS:
        if not _PY2 and name in sys.builtin_module_names:
            # A module compiled into the interpreter (gc, itertools, _operator,
            # _collections) stays imported: on 3.9+ its module object and, on
            # 3.12+, its types form cycles, so unregistering it would leave tens
            # to hundreds of objects of cyclic garbage behind after every command
            # (kept for good in a target with gc off).  Imported once, it stays one.
            continue
        if name not in _gdbml_had and dict.__contains__(m, name):
            try:
                dict.__delitem__(m, name)
            except Exception:
                pass


def _tracer_pid():
    """TracerPid in /proc/self/status (0: not traced), -1 if it cannot be read."""
    return __gdb_memleak_tracer_pid__(__gdb_memleak_state__)


# The gdb that runs this payload: its pid as this process sees it (0 from inside a PID namespace
# that does not hold gdb: then never "gone"), and how many times _gdb_gone was asked.
_GDB = [_tracer_pid(), 0, False]


def _gdb_gone():
    """The gdb that started this payload traces the process no more (killed, or it gave up): no one
    will read the answer.  Payloads of killed gdbs ran on for 6.5 minutes in a trial, ten at once, the
    target's RSS 150 MB -> 1.77 GB (2026-12-05).  /proc is read one call in 16 (about 20 us each)."""
    if _GDB[2] or _GDB[0] <= 0:
        return _GDB[2]
    _GDB[1] += 1
    if _GDB[1] % 16 == 0:
        _look_at_gdb(_GDB[0])
    return _GDB[2]


def _look_at_gdb(pid):
    """Whether tracer `pid` is gone, read now (gone stays gone); once it is, the int3s it left are
    taken out."""
    _GDB[2] = _GDB[2] or _tracer_pid() not in (pid, -1)
    if _GDB[2]:
        _take_out_traps()


# [address, byte]: where gdb's int3s on the dynamic linker's events are while the payload runs, and
# the byte each hides (gdb's 'traps' argument).  A gdb killed while the target runs leaves them in, and
# the target's next dlopen dies of SIGTRAP (gdbside/shlib_events.py); a payload that sees its gdb gone
# puts the bytes back itself, through /proc/self/mem, which writes to code as a debugger does.
# _TRAPS[1]: True when the last pass found none of them holding an int3 (or there are none).
_TRAPS = [[], True]


def _take_out_traps():
    """Each of _TRAPS that holds an int3 gets its byte back; returns _TRAPS[1].  With gdb alive too
    (before a thread of ours ends on 3.6-3.9.5: _gdb_memleak_release.py): gdb, when it takes its
    breakpoint out, writes that same byte; only the library loaded meanwhile goes unseen by gdb until
    its next library event."""
    if _TRAPS[0]:
        _TRAPS[1] = __gdb_memleak_put_back__(__gdb_memleak_state__, _TRAPS[0])
    return _TRAPS[1]


# What a payload answers when its gdb is gone: nobody reads it.
_GDB_GONE = {'refusal': {'code': 'gdb_gone', 'reason': 'the gdb that ran it went away'}}


def _gdb_is(pid, traps=None):
    """The tracer gdb saw before it started this payload (its 'tracer' argument; 0 when gdb cannot
    tell, from another PID namespace): looked at once now.  The pid read as this file loaded is 0 when
    gdb was killed before that, and the payload then ran to its end (6-7 s, a CI run of 2026-12-05).
    `traps`: gdb's 'traps' argument (_TRAPS)."""
    if type(traps) is list:
        _TRAPS[0] = [t for t in traps if type(t) is list and len(t) == 2]
    if type(pid) is int and pid > 0:
        _GDB[0] = pid
        _look_at_gdb(pid)


def _budget_clock(clock):
    """`clock`, but past every deadline once the payload's gdb is gone: walks with a time budget stop
    as when out of time, and let go of what they hold the usual way (deadlines: from `clock` itself).
    Walks without one check _gdb_gone and end the same way: raising instead let their lists' objects
    go at once, after the hand-back, and a finalizer could run in the payload's thread (a review)."""
    return lambda: float('inf') if _gdb_gone() else clock()


_PY2 = sys.version_info[0] == 2
_TYPEDICT = type.__dict__
_T_FLAGS = _TYPEDICT['__flags__']
_T_MRO = _TYPEDICT['__mro__']
_T_DICTPROXY = _TYPEDICT['__dict__']
_T_NAME = _TYPEDICT['__name__']
_T_MODULE = _TYPEDICT['__module__']
_T_QUAL = _TYPEDICT.get('__qualname__')
_MOD_TYPE = type(sys)
_MOD_DICT = _MOD_TYPE.__dict__['__dict__']
_FUNC_TYPE = type(_mod_cleanup)
_FRAME_TYPE = type(sys._getframe())
_MEMBER_TYPE = type(_FUNC_TYPE.__dict__['__globals__'])
_METHOD_DESCR = type(object.__dict__['__sizeof__'])
_GETSET_DESCR = type(type.__dict__['__dict__'])
_WRAPPER_DESCR = type(object.__dict__['__init__'])
_CLASSMETHOD_DESCR = type(dict.__dict__['fromkeys'])
_CM_FUNC = classmethod.__dict__['__func__']
_EXC_ARGS = BaseException.__dict__['args']


def _library_test():
    """A test of a source file's name: true for the interpreter's own and installed packages' (the
    standard library's directories, site-packages, dist-packages, '<frozen ...>', no name) and for
    the tools gdb-memleak lends the target (guppy3, objgraph), false for the application's own code."""
    dirs = []
    try:
        os_file = dict.get(_MOD_DICT.__get__(dict.get(_modules(), 'os')), '__file__')
    except Exception:  # not imported (embedded, -S), or not a module with a dict
        os_file = None
    if type(os_file) is str and '/' in os_file:
        dirs.append(os_file[:os_file.rfind('/') + 1])
    # a virtualenv's lib/pythonX.Y holds only a few of the standard library's files (2.7's os.py)
    lib = '/lib%%s/python%d.%d/' % sys.version_info[:2]
    for prefix in (getattr(sys, 'real_prefix', None), getattr(sys, 'base_prefix', None), sys.prefix):
        if type(prefix) is str and prefix:
            dirs.extend([prefix.rstrip('/') + lib % '', prefix.rstrip('/') + lib % '64'])
    dirs.extend(p for p in globals().get('__gdb_memleak_tools__', ()) if type(p) is str and p)
    dirs = tuple(dirs)

    def library(filename):
        return (type(filename) is not str or filename.startswith('<') or '/site-packages/' in filename
                or '/dist-packages/' in filename or filename.startswith(dirs))
    return library


def _a_cell(x=None):
    return (lambda: x).__closure__[0]


_CELL_TYPE = type(_a_cell())
_HEAPTYPE = 1 << 9
_HAVE_GC = 1 << 14
# what sys.getsizeof adds to __sizeof__() for an object the collector tracks
_GC_HEADER = sys.getsizeof([]) - [].__sizeof__()
_NOTFOUND = object()
if _PY2:
    _STR_TYPES = (str, unicode)  # noqa: F821
    _INT_TYPES = (int, long)  # noqa: F821
    _filterfalse = _it.ifilterfalse
    _map, _zip, _filter = _it.imap, _it.izip, _it.ifilter
else:
    _STR_TYPES = (str, bytes)
    _INT_TYPES = (int,)
    _filterfalse = _it.filterfalse
    _map, _zip, _filter = map, zip, filter
_TEXT_TYPES = (str, unicode) if _PY2 else (str,)  # noqa: F821


def _is_text(o):
    # an exact built-in string (no subclass: its methods could be the target's)
    t = type(o)
    return t is str or (_PY2 and t is unicode)  # noqa: F821


def _plain(s, limit=200):
    """s as an exact built-in string of at most `limit` characters, or None.
    A str subclass is copied through str's own slicing, never its methods."""
    t = type(s)
    if t is str or (_PY2 and t is unicode):  # noqa: F821
        return s if len(s) <= limit else s[:limit] + '...'
    for base in _TEXT_TYPES:
        if issubclass(t, base):
            n = base.__len__(s)
            r = base.__getitem__(s, slice(0, limit))
            return r if n <= limit else r + '...'
    return None


def _is_type(o):
    # isinstance(o, type) would fall back to o.__class__, which a class can override
    return issubclass(type(o), type)


def _tflags(t):
    try:
        return _T_FLAGS.__get__(t)
    except Exception:
        return 0


def _tmro(t):
    try:
        return _T_MRO.__get__(t) or (t,)
    except Exception:
        return (t,)


_tdict_cache = {}


def _tdict(t):
    """A class's own namespace as a plain dict with exact-str keys only, so
    that looking a name up in it compares no target objects (cached per run)."""
    e = _tdict_cache.get(id(t))
    if e is not None and e[0] is t:
        return e[1]
    d = {}
    try:
        proxy = _T_DICTPROXY.__get__(t)
        # the proxy wraps the type's own exact dict: items() runs no target code
        for k, v in list(proxy.items()):
            if _is_text(k):
                d[k] = v
    except Exception:
        pass
    _tdict_cache[id(t)] = (t, d)
    return d


def _type_lookup(t, name):
    """What the MRO of class t holds for `name` (as _PyType_Lookup finds it), or _NOTFOUND."""
    for k in _tmro(t):
        d = _tdict(k)
        if name in d:
            return d[name]
    return _NOTFOUND


def _qualname(t):
    """(module or None, qualified name) of class t, as bounded exact strings."""
    try:
        mod = _plain(_T_MODULE.__get__(t), 200)
    except Exception:
        mod = None
    name = None
    if _T_QUAL is not None:
        try:
            name = _plain(_T_QUAL.__get__(t), 200)
        except Exception:
            name = None
    if name is None:
        name = _tname(t)
    return mod, name


def _tname(t):
    try:
        return _plain(_T_NAME.__get__(t), 200) or '?'
    except Exception:
        return '?'


_names_cache = {}


def _kind_names():
    # guppy-compatible names for builtin types: 'types.CodeType', 'str',
    # 'function', 'module' ... (built from modules that are already loaded),
    # keyed by id(type): a type's hash and == may be its metaclass's code
    if _names_cache:
        return _names_cache
    inv = {}
    mods = _modules()
    for modname, prefix in (('types', 'types.'), ('__builtin__' if _PY2 else 'builtins', '')):
        m = mods.get(modname)
        if type(m) is not _MOD_TYPE:
            continue
        try:
            d = _MOD_DICT.__get__(m)
            for k in sorted([k for k in d if type(k) is str]):
                v = d[k]
                if _is_type(v) and not (prefix and k.startswith('_')):
                    inv[id(v)] = prefix + k
        except Exception:
            pass
    inv[id(_MOD_TYPE)] = 'module'
    inv[id(_FUNC_TYPE)] = 'function'
    inv[id(dict)] = 'dict (no owner)'
    _names_cache.update(inv)
    return _names_cache


def _type_name(t, names=None):
    if names is None:
        names = _kind_names()
    n = names.get(id(t))
    if n is not None:
        if t is dict:
            return 'dict'
        return n
    mod, name = _qualname(t)
    if mod and mod not in ('builtins', '__builtin__'):
        return mod + '.' + name
    return name


def _short_tname(t):
    n = _kind_names().get(id(t))
    if n is not None:
        return 'dict' if t is dict else n
    return _qualname(t)[1]


def _exc_text(e):
    """'TypeName: message' of an exception without calling its __str__."""
    t = type(e)
    name = _tname(t)
    try:
        args = _EXC_ARGS.__get__(e)
    except Exception:
        return name
    if type(args) is tuple and len(args) == 1:
        msg = _plain(args[0], 300)
        if msg is not None:
            return name + ': ' + msg
    return name


# ------------------------------------------------------------------ sizes

def _sizeof_plan(t):
    """None when sys.getsizeof(o) is safe for objects of class t (the __sizeof__
    it calls is C code), else the nearest C __sizeof__ below the class's own."""
    f = _type_lookup(t, '__sizeof__')
    if type(f) is _METHOD_DESCR:
        return None
    for k in _tmro(t):
        f = _tdict(k).get('__sizeof__', _NOTFOUND)
        if type(f) is _METHOD_DESCR:
            return f
    return object.__dict__['__sizeof__']


def _sizes(objs, tl=None):
    """sys.getsizeof of each object, except that a __sizeof__ defined in Python
    (the target's code) is never called: the C one under it is used instead."""
    if tl is None:
        tl = list(_map(type, objs))
    plans = {}
    for t in dict(_zip(_map(id, tl), tl)).values():
        p = _sizeof_plan(t)
        if p is not None:
            plans[id(t)] = (p, _GC_HEADER if _tflags(t) & _HAVE_GC else 0)
    getsizeof = sys.getsizeof
    if not plans:
        try:
            return list(_map(getsizeof, objs))
        except Exception:
            pass
    out = []
    for o, t in _zip(objs, tl):
        p = plans.get(id(t)) if plans else None
        try:
            if p is None:
                out.append(getsizeof(o))
            else:
                s = p[0](o)
                out.append((s + p[1]) if type(s) is int and s >= 0 else 0)
        except Exception:
            out.append(0)
    plans.clear()
    return out
