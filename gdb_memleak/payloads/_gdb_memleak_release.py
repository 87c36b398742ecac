# gdb-memleak payload helper: letting go of the target's objects (runs INSIDE the target).
#
# Python 2.7 and 3.6+; sent after _gdb_memleak_common.py, whose names it uses, and before
# _gdb_memleak_labels.py, to heap.py and cycles.py (run on their own, they load it from
# beside themselves).  Names start with "_"; the rules of _gdb_memleak_common.py hold here.

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


def _room_tail(args):
    """Where args['memory_available'] comes from, as the refusals say it (memory_from: one of
    the target's own limits, commands/room.py)."""
    return ('are available (%s); --force runs it anyway'
            % args.get('memory_from', 'to the machine or the target\'s cgroup'))


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
    tail = _room_tail(args)
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
    if _GDB[0] > 0:
        _look_at_gdb(_GDB[0])  # a gdb killed after the last look: its int3s out now
    _release_kept()
    orphans = _orphans_sent()
    if not orphans:
        return None
    # No thread to be had: a reference cycle, freed by the target's next collection.
    orphans.append(orphans)
    return ('%d objects that the target dropped while the payload held them are left to its '
            'next gc collection (no thread of ours could be started, or end safely)' % (len(orphans) - 1))


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
        if not _thread_may_end(thread):
            return orphans
        thread.start_new_thread(*_dying_place(orphans, thread.get_ident, done))
        return []
    except Exception:
        return orphans


# Up to 3.9.5 a thread started by _thread ends in pthread_exit (bpo-44434 took it out in 3.9.6), and
# glibc's first one in a process dlopens libgcc_s.  That dlopen meets gdb's int3 on the dynamic
# linker's events, which a gdb killed meanwhile leaves in: a 3.8 target that had never ended a thread
# died of SIGTRAP when the thread of _dying_place ended after its gdb was killed (test_gdb_dies.py:
# 2 of 3 instants before; a trial's, 2 of 13).  (2.7's end without pthread_exit.)
_THREAD_END_LOADS = (3,) <= sys.version_info[:3] < (3, 9, 6)


def _thread_may_end(thread):
    """Whether a thread of ours may be started, seen from the dlopen its end may make: there, only
    once gdb's int3s are out (_take_out_traps, gdb alive or not).  A gdb that stops and resumes the
    target in between puts them in again: killed after that, before the thread ends, it leaves them."""
    return not _THREAD_END_LOADS or _take_out_traps()


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
    if type(clock) is not type(len) or type(time.sleep) is not type(len):
        return  # the target replaced them (gevent's monkey patching, freezegun): its code, not called (a review)
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
