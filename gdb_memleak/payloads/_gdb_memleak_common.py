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
_WRAPPER_DESCR = type(object.__dict__['__init__'])
_CLASSMETHOD_DESCR = type(dict.__dict__['fromkeys'])
_CM_FUNC = classmethod.__dict__['__func__']
_EXC_ARGS = BaseException.__dict__['args']


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


# ------------------------------------------------- references handed back
#
# Issue 17: an object that another thread drops while the payload holds it is then
# owned by the payload alone, and dropping the payload's reference would run its
# __del__ and weakref callbacks in the payload's thread.  Measured on the
# finalizer target of tests/test_target_code.py: 25,503 finalizers in three
# commands; with a plain threading.Lock held by the thread at the safe point and
# taken by the finalizers, py-heap never returned and the target stayed
# deadlocked.  So the payload never lets go of a target object that could die of
# it:
#  * every list of the target's objects is let go of through _release, or held to
#    the end (_keep); gc.get_objects() is taken once (_snapshot) and held while it is
#    walked (heap shrinks it batch by batch, cycles once every object is in its map);
#  * _release lets go of a list with one C-level pipeline (list.pop, tee,
#    sys.getrefcount, compress): the reference count of each object is read and its
#    reference dropped, or kept when the payload was its only owner, in the same C
#    call, so no other thread runs in between (no bytecode, no GIL switch);
#  * at the end (_hand_back) what the payload alone held goes to a thread of its
#    own (_thread.start_new_thread(list.__delitem__)): the finalizers run there,
#    where a lock the target holds only makes them wait, never deadlock.
# Not chosen: handing them back in a reference cycle for the target's next
# collection.  The collection runs in whatever target thread allocates at that
# moment, and that thread may be the one holding the lock (the same deadlock); in
# a target with gc off they would never be freed; and on 3.12 a collection
# scheduled by another thread may run in the payload's thread.  That cycle is only
# the fallback when no thread can be started.  Nor stopping the other threads:
# the payload would then wait for the GIL behind any thread that computes.


def _sole_pipes(objs, pick):
    """(objects popped from objs, pick(their reference counts)): lazily, one by one."""
    a, b = _it.tee(_map(objs.pop, _it.repeat(-1, len(objs))))
    return a, _map(pick, _map(sys.getrefcount, b))


def _sole_count():
    """The count _sole_pipes reads for an object that only the list held."""
    seen = []
    probe = [object()]
    list(_it.compress(*_sole_pipes(probe, seen.append)))
    return seen[0]


_IS_SOLE = frozenset([_sole_count()]).__contains__


def _none_sole(objs):
    """Lazily: [True] when no object of objs (a list) is held by objs alone, else [False]."""
    return _map(_NOT, _map(any, [_map(_READ_SOLE, _map(sys.getrefcount, objs))]))


def _empty_unless_sole(objs):
    """Empty objs (a list of at most _GENTLE) in one C call if it holds none of its objects alone
    (their counts read and the list emptied in that call: no other thread runs in between)."""
    list(_map(objs.__delitem__, _it.compress([slice(None)], _none_sole(objs))))


def _sole_read():
    """What _none_sole reads for an object that only the list holds (the same pipeline)."""
    seen = []
    probe = [object()]
    any(_map(seen.append, _map(sys.getrefcount, probe)))
    return seen[0]


_READ_SOLE = frozenset([_sole_read()]).__contains__
_RELEASE_SLICE = 2000
_DISTINCT_SLICE = 20000
_SNAP = []      # [gc.get_objects() of this run]
_KEPT = []      # [(list, its objects are distinct)] held to the end
_ORPHANS = []   # objects that only the payload held; die in a thread of their own


def _snapshot():
    """gc.get_objects(), taken once per run; emptied only through _release-safe steps
    (what it held is then held by the caller's lists, released in turn)."""
    if not _SNAP:
        objs = gc.get_objects()
        _SNAP.append(objs)
        _KEPT.append((objs, True))
    return _SNAP[0]


# gc.get_objects() itself: 8 bytes a tracked object and an eighth more of over-allocation
# (a list this large grows by mremap, not by a copy).
_SNAPSHOT_BYTES = 10


def _no_room(args, per_tracked, fixed=0):
    """The refusal when the run's bookkeeping, per_tracked bytes for each object of
    the snapshot plus `fixed`, would not fit in args['memory_available'] (the room
    the gdb side found; None when unknown or with --force); else None.
    Listing the objects to count them costs memory too: first, where the count of
    allocated blocks is known (3.4+; no fewer blocks than objects), that listing is
    checked against the room with every block taken for an object."""
    available = args.get('memory_available')
    if available is None:
        return None
    tail = ('are available (to the machine or the target\'s cgroup); --force runs it anyway')
    blocks = getattr(sys, 'getallocatedblocks', None)
    if blocks is not None:
        n = blocks()
        need = n * _SNAPSHOT_BYTES
        if need > available:
            return {'refusal': {'code': 'no_room', 'reason': 'listing its objects would need up to %d MiB in the target '
                                '(%d allocated blocks), and %d MiB %s' % (need >> 20, n, available >> 20, tail)}}
    n = len(_snapshot())
    need = n * per_tracked + fixed
    if need <= available:
        return None
    return {'refusal': {'code': 'no_room', 'reason': 'it would need about %d MiB in the target for its %d tracked objects, '
                        'and %d MiB %s' % (need >> 20, n, available >> 20, tail)}}


def _keep(objs, distinct=False):
    """Hold the list objs (not to be changed afterwards) until the end of the run."""
    _KEPT.append((objs, distinct))


def _release(objs, distinct=False):
    """Empty objs (a list of the payload's references), keeping in _ORPHANS those
    objects it was the only owner of.  See the header of this section."""
    if not objs:
        return
    if distinct:  # in slices too: a frontier of a million objects held the GIL 43 ms in one go
        while objs:
            part = objs[-_GENTLE:]
            del objs[-_GENTLE:]
            _empty_unless_sole(part)  # the usual case: none is the payload's alone
            if part:
                _ORPHANS.extend(_it.compress(*_sole_pipes(part, _IS_SOLE)))
        return
    # The pipeline counts one object twice over when it comes twice in one go (the tee
    # still holds the first), so each slice is made distinct first.  In slices: the map
    # of ids costs about 100 bytes an object, and a dict of 100k records' referents
    # made the census's peak 11.6 MB of a 65 MB service (tracemalloc, 2026-12-02).  An
    # object in two slices is fine: the first sees the other's reference and drops its own.
    while objs:
        part = objs[-_RELEASE_SLICE:]
        del objs[-_RELEASE_SLICE:]
        d = dict(_zip(_map(id, part), part))
        del part[:]
        part.extend(d.values())
        d.clear()
        _ORPHANS.extend(_it.compress(*_sole_pipes(part, _IS_SOLE)))


def _release_referents(rs, untracked_too=True):
    """Empty rs, a list from gc.get_referents: its tracked objects through _release (one
    made after the snapshot may have been dropped by its owner since), its unusual
    untracked ones held to the end (_keep_unusual), unless the caller does that.  A slice at a
    time from its end: one list's referents can be as many as the heap, and filtering a
    million records' in one go held the GIL 50 ms (3.11, 2026-12-03)."""
    while rs:
        part = rs[-_DISTINCT_SLICE:]
        del rs[-_DISTINCT_SLICE:]
        tr = list(_filter(gc.is_tracked, part))
        if untracked_too:
            _keep_unusual(list(_filterfalse(gc.is_tracked, part)))
        _free_gently(part)  # (tr, and the caller for the untracked ones, hold them meanwhile)
        _release(tr)
        del tr


_STR_ID = frozenset([id(str)])
_IS_STR_ID = _STR_ID.__contains__
_DICT_KEYS = dict.keys
_DICT_LEN = dict.__len__


def _str_keys(objs, tl=None, chosen=None):
    """The exact-str keys of the dicts among objs that only their dict holds, on 3.x, where
    gc.get_referents leaves a dict's keys out when they are all str (its values only).  A
    dict of 100k keys of 600 characters (60 MB) was in no row of the census before
    (2026-12-02, 3.11).  A key of several owners is left to them: most are names the
    program spells (reached through its code), and taking them went through the census's
    set of ids, once per reference: a million records' three keys cost 0.65 s of a 2.5 s
    census, and a heartbeat holding a sorted list of a 100k-record dict's keys made that
    set 4 MB, freed at its full size (_free_gently says why not).  (tl: the classes of
    objs, if known; chosen: the dicts among objs, if known, a list this empties.)"""
    if _PY2 or not objs:
        if chosen:
            del chosen[:]
        return []
    if chosen is None:
        chosen = _dicts_among(objs, tl)
        if not chosen:
            return []
    # A slice at a time: a dict's keys listed whole would be a list freed at its full size
    # (_free_gently says why not).  Another thread may change a dict between two slices:
    # its iteration then stops with RuntimeError, and the keys not seen yet are not counted.
    # Each slice is one C call (_key_pipes): a key is let go of in the call that took it
    # unless only its dict holds it, so no other thread can drop the key's other owners
    # in between, and only those keys are then looked at by class.  Typed first, every
    # key, it took twice as long: 0.78 s against 0.42 s for a million records' 3M keys
    # (2026-12-03, 3.11).
    done, total = 0, sum(_map(_DICT_LEN, chosen))
    if total <= _KEY_QUICK and _no_key_alone(chosen):
        # Most keys have other owners (the names a program spells): one C call that only
        # reads their counts tells, and the slices below are not needed.  A million records'
        # 3M keys took 0.94 s of a 3.9 s census that way, and 0.2 s this way (3.11, 2026-12-04).
        del chosen[:]
        return []
    keys = _it.chain.from_iterable(_map(_DICT_KEYS, chosen))
    out = []
    for _round in range(3):  # again for the keys added meanwhile to a dict not reached yet (a few rounds at most)
        for _slice in range(done, total, _KEY_SLICE):
            try:
                alone = list(_it.compress(*_key_pipes(_it.islice(keys, _KEY_SLICE), _KEY_ALONE.__eq__)))
            except RuntimeError:
                del chosen[:]
                return out
            if _STR_ID.issuperset(_map(id, _map(type, alone))):
                out.extend(alone)
            else:  # another key: let go of through _release, alone emptied first (its dict may drop it meanwhile)
                is_str = list(_map(_IS_STR_ID, _map(id, _map(type, alone))))
                out.extend(_it.compress(alone, is_str))
                other = list(_it.compress(alone, _map(_NOT, is_str)))
                del alone[:], is_str[:]
                _release(other)
            del alone[:]
        done, total = total, sum(_map(_DICT_LEN, chosen))
        if total <= done:
            break
    del chosen[:]
    return out


def _key_pipes(keys, pick):
    """(keys, pick(their reference counts)) for compress: lazily, no list of the caller's
    holding them (the tee's own buffer, up to 57 keys, only adds to every count alike);
    made and let go of within the caller's one call."""
    a, b = _it.tee(keys)
    return a, _map(pick, _map(sys.getrefcount, b))


_GETSET_TYPE = type(_T_DICTPROXY)


def _ndarray_base_getter():
    """(id of numpy's ndarray class, the C getter of its .base), or None when numpy is not
    imported (nothing is imported for it) or not as known. Looked up once per run: the census
    asks for every slice of objects it counts."""
    if not _NDARRAY_BASE:
        _NDARRAY_BASE.append(_find_ndarray_base_getter())
    return _NDARRAY_BASE[0]


_NDARRAY_BASE = []


def _find_ndarray_base_getter():
    m = dict.get(_modules(), 'numpy')
    if type(m) is not _MOD_TYPE:
        return None
    try:
        nd = dict.get(_MOD_DICT.__get__(m), 'ndarray')
        if type(nd) is not type:
            return None
        getter = [dict.get(d, 'base') for d in gc.get_referents(_T_DICTPROXY.__get__(nd)) if type(d) is dict]
    except Exception:
        return None
    return (id(nd), getter[0]) if getter and type(getter[0]) is _GETSET_TYPE else None


def _array_bases(objs, tl=None):
    """The .base of the numpy arrays among objs: a view keeps the array it was cut from alive,
    and with it the buffer, which gc.get_referents does not say (numpy's arrays take no part
    in the collector). A service's 8 views of 2 rows held 64 MB of batches that no row of
    the census counted (2026-12-02). Read with ndarray's own C getter, also for a subclass
    (whose Python code, a `base` property, is never run). (tl: the classes of objs, if known.)"""
    found = _ndarray_base_getter()
    if found is None or not objs:
        return []
    nd_id, getter = found
    if tl is None:
        tl = list(_map(type, objs))
    ids = list(_map(id, tl))
    distinct = dict(_zip(ids, tl))
    arrays = set(i for i, t in distinct.items() if i == nd_id or _ndarray_subclass(t, nd_id))
    distinct.clear()
    bases = []
    for o in _it.compress(objs, _map(arrays.__contains__, ids)) if arrays else ():
        try:
            b = getter.__get__(o)
        except Exception:
            continue
        if b is not None:
            bases.append(b)
    return bases


def _ndarray_subclass(t, nd_id):
    try:
        return nd_id in _map(id, _T_MRO.__get__(t))
    except Exception:
        return False


def _holds_hidden_referents(t):
    """Whether objects of class t hold something _hidden_referents finds, though the collector
    does not see them (a numpy array: no gc flag, no tp_traverse)."""
    found = _ndarray_base_getter()
    return found is not None and _ndarray_subclass(t, found[0])


def _hidden_referents(objs, tl=None, dicts=None):
    """What objs hold that gc.get_referents leaves out: str keys of dicts (_str_keys), the
    bases of numpy views (_array_bases).  (dicts: the dicts among objs, if known.)"""
    out = _str_keys(objs, tl, dicts)
    out.extend(_array_bases(objs, tl))
    return out


def _is_dict_class(t):
    i = id(t)
    return i in _DICT_TYPE_IDS or (i not in _NOT_DICT_IDS and issubclass(t, dict))


def _dicts_among(objs, tl=None):
    if tl is None:
        tl = list(_map(type, objs))
    ids = list(_map(id, tl))
    distinct = dict(_zip(ids, tl))
    dicts = set(i for i, t in distinct.items() if _is_dict_class(t))
    distinct.clear()
    return list(_it.compress(objs, _map(dicts.__contains__, ids))) if dicts else []


def _no_key_alone(dicts):
    """True when no key of dicts is held by its dict alone, read in one C call that holds
    no key beyond the step that reads it (the iterator's own reference, dropped at once)."""
    try:
        return _KEY_ALONE_READ not in _map(sys.getrefcount, _it.chain.from_iterable(_map(_DICT_KEYS, dicts)))
    except RuntimeError:  # (a dict changed size: not with no bytecode run, but the slices below cope)
        return False


def _key_refcount_read():
    """What _no_key_alone reads for a key that only its dict holds (the same pipeline)."""
    d = {('%d' % 123457) * 3: None}
    return list(_map(sys.getrefcount, _it.chain.from_iterable(_map(_DICT_KEYS, [d]))))[0]


def _key_refcount():
    """What _str_keys reads for a key that only its dict holds (the same pipeline)."""
    d = {('%d' % 123457) * 3: None}
    seen = []
    keys = _it.chain.from_iterable(_map(_DICT_KEYS, [d]))
    list(_it.compress(*_key_pipes(_it.islice(keys, _KEY_SLICE), seen.append)))
    return seen[0]


_KEY_SLICE = 1024
_KEY_ALONE = _key_refcount()
_KEY_ALONE_READ = _key_refcount_read()
_KEY_QUICK = 16 * _KEY_SLICE  # keys read in that one call at most: about 0.5 ms


def _free_gently(lst):
    """Empty lst (a list of the payload's own, whose objects are held elsewhere too) from its
    end, a slice at a time, so that its memory goes back through realloc.  Freed at its full
    size, a list of 128 KiB or more makes glibc raise its mmap and trim thresholds, and keep
    that much more heap afterwards: ten py-heap --largest 2 left a 65 MB service 2.3 MB
    bigger before the retained walk freed its lists this way (2026-12-02, 3.11)."""
    while len(lst) > _GENTLE:
        del lst[-_GENTLE:]
    del lst[:]


_GENTLE = 8192  # 64 KiB of pointers: below glibc's first mmap threshold (128 KiB)
_NOT = (_module('_operator') or _module('operator')).not_


# The common classes, decided without issubclass.
_DICT_TYPE_IDS = frozenset([id(dict)])
_NOT_DICT_IDS = frozenset(_map(id, (list, tuple, set, frozenset, str, bytes, int, float, _FUNC_TYPE, _FRAME_TYPE,
                                    _CELL_TYPE, type)))


_PLAIN_TYPE_IDS = frozenset(_map(id, (str, bytes, int, float, complex, bool, type(None), tuple, dict) + (
    (unicode, long) if _PY2 else ())))  # noqa: F821


_INERT_TYPE_IDS = frozenset(_map(id, (list, tuple, dict, set, frozenset, _CELL_TYPE, str, bytes, int, float,
                                      complex, bool, type(None)) + ((unicode, long) if _PY2 else ())))  # noqa: F821


def _keep_unusual(objs):
    """(objs: untracked objects only.)
    Hold to the end the untracked objects of objs that are not exact atoms, tuples or
    dicts (those have no finalizer, no weak references; an untracked tuple or dict holds
    only untracked objects, looked at in turn): an int subclass with __del__ and empty
    __slots__, an extension type's object with weak references."""
    if not _PLAIN_TYPE_IDS.issuperset(_map(id, _map(type, objs))):
        _keep(list(o for o in objs if id(type(o)) not in _PLAIN_TYPE_IDS))


def _unwrap_inert():
    """Drop, here, the orphans that run no code when they die: exact lists, tuples,
    dicts, sets and cells without weak references (many are the payload's own
    bookkeeping, such as the referrers --largest walks), their contents first taken out
    and let go of through _release in turn.  What is left can run code when it dies."""
    weakref = _module('_weakref')
    count = weakref.getweakrefcount if weakref is not None else None
    kinds = {}

    def inert(o):
        t = type(o)
        k = kinds.get(id(t))
        if k is None:
            # the interpreter's own classes that keep track of their references (so
            # gc.get_referents sees them all) and have no finalizer: iterators, bound
            # method wrappers, slices ... (a generator has one: never inert)
            k = kinds[id(t)] = id(t) in _INERT_TYPE_IDS or (
                not _tflags(t) & _HEAPTYPE and _tflags(t) & _HAVE_GC
                and _qualname(t)[0] in ('builtins', '__builtin__')
                and _type_lookup(t, '__del__') is _NOTFOUND
                and _tname(t) not in ('generator', 'coroutine', 'async_generator'))
        return k and count(o) == 0

    while _ORPHANS and count is not None:
        inert_ones = list(_filter(inert, _ORPHANS))
        if not inert_ones:
            break
        rest = list(_filterfalse(inert, _ORPHANS))
        del _ORPHANS[:]  # rest and inert_ones hold them all
        _ORPHANS.extend(rest)
        del rest
        inside = gc.get_referents(*inert_ones)
        # Emptied first, a list at a time, so that none dies at its full size (another
        # thread's list of 100k keys, dropped while the census held it, was freed here as
        # 800 KB at once: _free_gently says why not); `inside` holds what they held.
        for o in inert_ones:
            if type(o) is list:
                _free_gently(o)
        o = None
        del inert_ones[:]  # they die here, their contents held by `inside`
        _release(inside)
    kinds.clear()


def _release_kept():
    """Let go of what _keep held, now (through _release)."""
    while _KEPT:
        objs, distinct = _KEPT.pop()
        _release(objs, distinct)
        del objs


def _hand_back():
    """At the end of the run: let go of everything held (_release), and hand what the
    payload alone held, and what can run code when it dies, to a thread of its own,
    where it dies.  Returns a note, or None."""
    _SNAP[:] = []
    _release_kept()
    orphans = _orphans_sent()
    if not orphans:
        return None
    # No thread to be had: a reference cycle, freed by the target's next collection.
    orphans.append(orphans)
    return ('%d objects that the target dropped while the payload held them are left to its '
            'next gc collection (no thread could be started)' % (len(orphans) - 1))


def _orphans_sent(done=None):
    """What the payload alone holds (_ORPHANS, unwrapped first), sent to a thread of its own to
    die there (_dying_place; done: told when they have gone).  Returns [] once sent, else the
    list of those it could not send (no thread to be had), taken out of _ORPHANS."""
    _unwrap_inert()
    if not _ORPHANS:
        return []
    orphans = _ORPHANS[:]
    del _ORPHANS[:]  # (orphans holds them)
    thread = _module('thread' if _PY2 else '_thread')
    try:
        thread.start_new_thread(*_dying_place(orphans, thread.get_ident, done))
        return []
    except Exception:
        return orphans


def _deque_type():
    collections = _module('_collections')
    return _MOD_DICT.__get__(collections).get('deque') if collections is not None else None


def _hand_back_now(wait):
    """Mid-run: hand what the payload alone holds now to its thread (_hand_back), and wait up to
    `wait` seconds for it to go.  Before py-heap --largest measures retained sizes: a frame of the
    census's list of running frames whose function returned meanwhile is kept alive by the payload
    alone, with a copy of its locals (3.11+), and those locals then seemed a second owner of what
    they referred to.  A hostile target's HOLDER retained 16 MB instead of 24 in CI, its 8 MB
    value seen as shared with a dict view that a returned checksum() frame held (2026-12-04)."""
    _unwrap_inert()
    if not _ORPHANS:
        return
    done = []
    unsent = _orphans_sent(done)
    if unsent:
        _ORPHANS.extend(unsent)  # at the end, then, with the rest
        del unsent[:]
        return
    time = _module('time')
    if time is None or _deque_type() is None:  # (2.7 with no `time` imported; no chain to tell `done`)
        return
    clock = getattr(time, 'monotonic', time.time)
    deadline = clock() + wait
    while not done and clock() < deadline:
        time.sleep(0.001)


def _dying_place(orphans, get_ident, done=None):
    """(function, args) for the thread _hand_back starts: orphans emptied there, so that their
    finalizers run in it; then the stand-in that `threading` makes for a thread it did not
    start, when one of them asks for the current thread (logging does), forgotten: up to 3.12
    it stays in threading._active for good (3.13 drops it with the thread).  C calls chained
    lazily, so that no frame of the payload's is on that thread's stack while the finalizers
    run, and nothing of its namespace is needed after it has gone."""
    operator = _module('_operator') or _module('operator')
    call = operator.methodcaller('__call__')
    deque = _deque_type()
    if deque is None:
        return orphans.__delitem__, (slice(None),)
    threading = _modules().get('threading')
    d = _MOD_DICT.__get__(threading) if type(threading) is _MOD_TYPE else {}
    active, lock = d.get('_active'), d.get('_active_limbo_lock')
    empty = _map(orphans.__delitem__, [slice(None)])
    if type(active) is dict and lock is not None and sys.version_info < (3, 13):
        # the entry under this thread's own id (read there, when it comes to it): only a
        # stand-in can have it, threading never started this thread; under threading's own
        # lock of that dict, as threading changes it
        forget = _it.chain(_map(call, [lock.acquire]), _map(active.pop, _map(call, [get_ident]), [None]),
                           _map(call, [lock.release]))
    else:
        forget = iter(())
    if done is not None:  # told when they have gone (or a finalizer blocks: never)
        forget = _it.chain(forget, _map(done.append, [True]))
    return deque((), 0).extend, (_it.chain(empty, forget),)


# --------------------------------------------------------------- identity

def _own_codes():
    # code objects of this payload's functions (to skip our own frames)
    g = globals()
    codes = set()
    for v in list(g.values()):
        if type(v) is _FUNC_TYPE and v.__globals__ is g:
            codes.add(id(v.__code__))
    return codes


def _own_ids():
    g = globals()
    ids = set()
    gm = _modules().get(g.get('__name__'))
    if gm is None or type(gm) is not _MOD_TYPE or _MOD_DICT.__get__(gm) is not g:
        ids.add(id(g))  # the injector's private namespace
    for v in list(g.values()):
        if type(v) is _FUNC_TYPE and v.__globals__ is g:
            ids.add(id(v))
    for v in (_names_cache, _gdbml_had, _INT_TYPES, _STR_TYPES, _tdict_cache, _slot_cache, _attr_names,
              _SNAP, _KEPT, _ORPHANS, _IS_SOLE, _READ_SOLE, _PLAIN_TYPE_IDS, _INERT_TYPE_IDS, __gdb_memleak_state__,
              __gdb_memleak_state__['loaded']):
        ids.add(id(v))
    if type(g.get('__gdb_memleak_quiet__')) is list:  # the quiet block's (sys, saved functions...)
        ids.add(id(g['__gdb_memleak_quiet__']))
    guard = __gdb_memleak_state__['guard']  # the fork guard (quiet block), its dict and weak reference
    if guard is not None:
        ids.add(id(guard))
        ids.add(id(_MOD_DICT.__get__(guard)))
    if __gdb_memleak_state__.get('store') is not None:
        ids.add(id(__gdb_memleak_state__['store']))
    f = sys._getframe()
    codes = _own_codes()
    while f is not None:
        if id(f.f_code) in codes:
            ids.add(id(f))
        f = f.f_back
    ids.update(_unsafe_to_traverse())
    return ids


def _unsafe_to_traverse():
    """ids of objects gc.get_referents must never be given, left out as the payload's own are.
    CPython 3.12.0-3.12.4 and 3.13 before rc2 (gh-122695): the _asyncio module's traverse hands out
    the freed iterators of its free list; dropping them frees them again, the list then loops, and
    the next traverse appends for ever: a census in an asyncio service grew it to 24 GB and the
    kernel's OOM killer ended it (2026-12-02, pyenv 3.12.1, tests/targets/leaked_tasks.py)."""
    v = sys.version_info
    broken = (3, 12, 0) <= v[:3] < (3, 12, 5) or (v[:2] == (3, 13) and (
        v[3] in ('alpha', 'beta') or (v[3] == 'candidate' and v[4] < 2)))
    m = _modules().get('_asyncio') if broken else None
    return [id(m)] if type(m) is _MOD_TYPE else []


def _clear_caches():
    held = []  # the classes and what their namespaces held: let go of through _release
    for e in list(_tdict_cache.values()):
        held.append(e[0])
        held.extend(e[1].values())
        e[1].clear()
    _tdict_cache.clear()
    for e in list(_slot_cache.values()):
        held.append(e[0])
        held.extend(d for n, d in e[1])
    e = None
    _slot_cache.clear()
    del _attr_names[:]
    _release(held)


def _is_instance_like(t):
    # objects of heap types (user classes) and py2 old-style instances
    if _tflags(t) & _HEAPTYPE:
        return True
    return _PY2 and t is _OLD_INSTANCE


# Python 2's old-style instance type.  Only made there: a class statement on 3.x
# builds a reference cycle, garbage that py-cycles would then find in the target.
_OLD_INSTANCE = None
if _PY2:
    class _OldStyle:  # old-style: no cycle, freed at once
        pass
    _OLD_INSTANCE = type(_OldStyle())
    del _OldStyle


_slot_cache = {}


def _slot_descrs(t):
    e = _slot_cache.get(id(t))
    if e is not None and e[0] is t:
        return e[1]
    r = []
    for k in _tmro(t):
        for name, v in list(_tdict(k).items()):
            if type(v) is _MEMBER_TYPE and name != '__weakref__':
                r.append((_plain(name, 100), v))
    _slot_cache[id(t)] = (t, r)
    return r


# descriptor classes whose __get__ is CPython's own and calls nothing else
_SAFE_GET = (_FUNC_TYPE, staticmethod, _METHOD_DESCR, _WRAPPER_DESCR, _CLASSMETHOD_DESCR)


def _plain_getattr(o, name):
    """o.name as object.__getattribute__ finds it, but only when that runs no
    target code: refused for data descriptors (properties, __class__ ...) and
    for descriptors whose __get__ is not one of CPython's plain ones.  A
    __getattr__/__getattribute__ of the class is never called."""
    d = _type_lookup(type(o), name)
    if d is not _NOTFOUND:
        ct = type(d)
        if _type_lookup(ct, '__set__') is not _NOTFOUND or _type_lookup(ct, '__delete__') is not _NOTFOUND:
            return _NOTFOUND
        if _type_lookup(ct, '__get__') is not _NOTFOUND:
            if ct is classmethod:
                try:
                    if type(_CM_FUNC.__get__(d)) is not _FUNC_TYPE:
                        return _NOTFOUND
                except Exception:
                    return _NOTFOUND
            elif not any(ct is s for s in _SAFE_GET):
                return _NOTFOUND
    try:
        return object.__getattribute__(o, name)
    except BaseException:
        return _NOTFOUND


def _instance_dict(o, t, refs):
    """The existing instance __dict__ of o among refs (its referents), or
    None.  Never creates one."""
    slotvals = set()
    for name, dsc in _slot_descrs(t):
        try:
            slotvals.add(id(dsc.__get__(o, t)))
        except BaseException:
            pass
    rest = [r for r in refs if r is not t and id(r) not in slotvals]
    cand = [r for r in rest if type(r) is dict]
    if not cand:
        return None
    if sys.version_info < (3, 11):
        return cand[0]
    # 3.11+: inline values are referents too; a dict referent is the
    # materialised __dict__ only if it is the only non-type referent and its
    # keys resolve to its values on the instance.
    if len(rest) != 1:
        return None
    d = cand[0]
    for k in list(d)[:2]:
        if type(k) is not str:
            return None
        v = _plain_getattr(o, k)
        if v is _NOTFOUND:
            continue
        return d if v is d.get(k, _NOTFOUND) else None
    return d


# ----------------------------------------------------------------- labels

def _short(o, t):
    """A bounded label for o: a slice of a built-in string or number, else
    '<Type object at 0x..>'.  repr() only ever sees exact built-in values."""
    try:
        if t is str or t is bytes or (_PY2 and t is unicode):  # noqa: F821
            n = len(o)
            if n <= 40:
                s = repr(o)
            else:
                s = repr(o[:40])[:-1] + '...' + repr(o[:1])[-1:]
                s = '%s (len %d)' % (s, n)
            return s[:120]
        if any(t is k for k in _INT_TYPES) or t is bool:
            if t is not bool and sys.getsizeof(o) > 64:
                return '<int of %d bits>' % o.bit_length()
            return repr(o)[:80]
        if t is float or t is complex or o is None:
            return repr(o)[:80]
        if t is list or t is tuple or t is dict or t is set or t is frozenset or t is bytearray:
            return '<%s len=%d>' % (_tname(t), len(o))
        if issubclass(t, type):
            mod, name = _qualname(o)
            return "<class '%s'>" % ((mod + '.' if mod else '') + name)
        if t is _MOD_TYPE:
            nm = _plain(_MOD_DICT.__get__(o).get('__name__'), 100)
            return "<module %s>" % (nm if nm is not None else '?')
        if t is _FUNC_TYPE:
            return '<function %s>' % (_plain(o.__code__.co_name, 100) or '?')
        return '<%s object at 0x%x>' % (_type_name(t), id(o))
    except BaseException:
        return '<%s object>' % _tname(t)


def _key_label(k):
    t = type(k)
    if _is_text(k) or t is bytes:
        if len(k) > 40:
            return '[%s...]' % repr(k[:40])
        return '[%s]' % repr(k)
    if any(t is i for i in _INT_TYPES):
        if sys.getsizeof(k) > 64:
            return '[<int of %d bits>]' % k.bit_length()
        return '[%s]' % repr(k)
    return '[<%s key>]' % _type_name(t)


def _index_of(seq, c):
    try:
        return next(_it.compress(_it.count(), _map(lambda x: x is c, seq)))
    except StopIteration:
        return None


_attr_names = []


def _candidate_names(t):
    # attribute names to probe for 3.11+ inline values: names stored by any
    # function we can see (co_names), class-level names first
    names = []
    for k in _tmro(t):
        for v in list(_tdict(k).values()):
            if type(v) is _FUNC_TYPE:
                names.extend(n for n in v.__code__.co_names if n not in names)
    if not _attr_names:
        s = set()
        objs = _snapshot()
        fresh = not objs  # py-cycles has emptied the run's snapshot by now
        if fresh:
            objs = gc.get_objects()
        for o in objs:
            if type(o) is _FUNC_TYPE:
                s.update(o.__code__.co_names)
        o = None
        if fresh:
            _release(objs, True)
        _attr_names.append(s)
    return names, _attr_names[0]


def _edge(p, c):
    """How container p refers to c: (kind, value); 'attr' values are bounded
    exact strings, 'key' values are the raw dict key (label it with _key_label)."""
    tp = type(p)
    if tp is dict:
        # not list(p.items()): for a dict of 100k records, an 800 KB list freed at its full
        # size (_free_gently says why not).  A dict another thread changes meanwhile stops
        # the iteration with RuntimeError: the step is then unknown.
        try:
            for k, v in p.items():
                if v is c:
                    return ('key', k)
        except RuntimeError:
            pass
        return ('?', None)
    if tp is list or tp is tuple:
        i = _index_of(p, c)
        return ('idx', i) if i is not None else ('?', None)
    if tp is set or tp is frozenset:
        return ('member', None)
    if tp is _FRAME_TYPE:
        return ('frame', None)
    try:
        # name and flags through type's own descriptors: a metaclass's __getattribute__ is the target's code
        if _TYPEDICT['__name__'].__get__(tp) == 'traceback' and not _TYPEDICT['__flags__'].__get__(tp) & 512:
            for n in ('tb_frame', 'tb_next'):
                if _TYPEDICT['__dict__'].__get__(tp)[n].__get__(p, tp) is c:
                    return ('attr', n)
        if issubclass(tp, BaseException):  # an exception's links, by BaseException's own descriptors
            for n in ('__traceback__', '__context__', '__cause__'):
                dsc = _TYPEDICT['__dict__'].__get__(BaseException).get(n)
                if dsc is not None and dsc.__get__(p, tp) is c:
                    return ('attr', n)
    except Exception:
        pass
    if _is_instance_like(tp):
        for name, dsc in _slot_descrs(tp):
            try:
                if dsc.__get__(p, tp) is c:
                    return ('attr', name)
            except BaseException:
                pass
        if type(c) is dict and _instance_dict(p, tp, gc.get_referents(p)) is c:
            return ('instdict', None)
        first, rest = _candidate_names(tp)
        for n in first:
            if _plain_getattr(p, n) is c:
                return ('attr', _plain(n, 100))
        for n in rest:
            if _plain_getattr(p, n) is c:
                return ('attr', _plain(n, 100))
        return ('attr', '?')
    if tp is _MOD_TYPE:
        if _MOD_DICT.__get__(p) is c:
            return ('instdict', None)
    if tp is _FUNC_TYPE:
        for n in ('__code__', '__defaults__', '__closure__', '__kwdefaults__', '__globals__'):
            try:
                if getattr(p, n) is c:  # the function type's own descriptors
                    return ('attr', n)
            except Exception:
                pass
    if issubclass(tp, type):
        try:
            if any(r is c for r in gc.get_referents(_T_DICTPROXY.__get__(p))):
                return ('instdict', None)
        except Exception:
            pass
    if tp is _CELL_TYPE:
        return ('attr', 'cell_contents')
    return ('via', _type_name(tp))


def _key_text(v, attrmode):
    """The path step for dict key v: '.name' in attribute mode, else '[key]'."""
    if attrmode and _is_text(v):
        return '.' + _plain(v, 100)
    return _key_label(v)


def _step_text(kind, v, attrmode):
    """The path text of one reference found by _edge ('.name', "['key']", '[3]'),
    or None for kinds a path shows otherwise (instance dicts, frames, 'via')."""
    if kind == 'key':
        return _key_text(v, attrmode)
    if kind == 'idx':
        return '[%d]' % v
    if kind == 'attr':
        return '.' + v
    if kind == 'member':
        return '{member}'
    return None


def _step_label(kind, v):
    """A graph edge's label for one reference found by _edge ('' for none)."""
    if kind == 'instdict':
        return '__dict__'
    if kind == 'member':
        return ''
    text = _step_text(kind, v, True) or ''
    return (text[1:] if kind == 'attr' else text)[:40]
