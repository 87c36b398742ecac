# gdb-memleak payload: heap census (runs INSIDE the target interpreter).
#
# Python 2.7 and 3.6+ compatible source: no f-strings, no annotations, no
# `from __future__`.  Defines gdb_memleak_payload(args) -> JSON-able dict.
# Every other module-level name starts with "_" (under pyrasite this file is
# exec'd in the target's __main__).
#
# Rules followed here (the target is someone's production process):
#  * automatic gc is paused during the run and restored (the quiet block,
#    _gdb_memleak_quiet.py, says why, and how a child forked meanwhile gets the
#    target's own gc state); gc.collect() is never called (guppy's own calls are
#    neutralised while it runs);
#  * no target object is let go of in a way that could run its finalizers here
#    (_release, _hand_back in _gdb_memleak_release.py);
#  * instance __dict__s are never read through obj.__dict__ / vars() (that
#    creates them on 3.11+); owners are found with gc.get_referents and
#    member descriptors;
#  * repr() is never called on a target object; labels are built from type
#    names, lengths and slices of builtin str/bytes;
#  * every temporary list/dict is dropped before returning; modules this
#    payload imported that were not imported before are unregistered again.

try:
    _gdbml_had  # defined by _gdb_memleak_common.py, which the injector sends ahead of this file
except NameError:  # run on its own (python FILE, or pyrasite, which puts this folder first or second on sys.path)
    import os as _os
    import sys as _sys
    for _dir in _sys.path[:2] + [_os.path.dirname(_os.path.abspath(globals().get("__file__", ".")))]:
        _common = _os.path.join(_dir, "_gdb_memleak_common.py")
        if _os.path.isfile(_common):
            for _helper in (_os.path.join(_dir, "_gdb_memleak_quiet.py"), _common,
                            _os.path.join(_dir, "_gdb_memleak_release.py"),
                            _os.path.join(_dir, "_gdb_memleak_labels.py"),
                            _os.path.join(_dir, "_gdb_memleak_retained.py"),
                            _os.path.join(_dir, "_gdb_memleak_largest.py")):
                exec(compile(open(_helper).read(), _helper, "exec"))
            break


# One record per class in the census (a list, for speed; its fields by name): the class,
# objects counted, bytes counted, how a size is found (_FIXED ...), the function and the
# item size or offset it uses, what kind of dicts its objects own (or None), whether
# the collector tracks them, whether its untracked objects are held to the end
# (not an exact atom, tuple or dict: _keep_unusual in _gdb_memleak_release.py says why),
# whether they are dicts (their str keys are read apart: _str_keys), and whether they are
# all bulky (_untracked: a fixed size that says nothing of their referents).
_R_TYPE, _R_COUNT, _R_SIZE, _R_MODE, _R_SIZER, _R_ITEM, _R_OWNS, _R_GC, _R_KEEP, _R_DICT, _R_BULKY = range(11)


# ------------------------------------------------------------------ census
#
# A streaming census.  gc.get_objects() is walked in chunks of _CHUNK objects,
# from its end (the list shrinks as it goes); each chunk's objects, then the
# untracked objects they refer to (str, int, float, bytes, untracked tuples and
# dicts, and what those refer to, level by level), are counted at once into one
# record per class: count and total size.  Nothing is kept per object beyond
# the chunk being counted.  An untracked object is reached once per owner:
# one whose reference count shows a single owner is counted on the spot, the
# others (interned names, small ints, shared constants: few distinct objects)
# go through a set of ids.  Sizes come per class: a constant for fixed-size
# classes, the class's C __sizeof__ mapped over its objects otherwise.  Each
# step is a C call over one chunk and the loop around them is Python, so the
# target's other threads get the GIL every switch interval meanwhile.
# Classes are dict keys only when no metaclass alive hashes or compares them
# with Python code (_classes_hash_safely); otherwise they are keyed by id().

_CHUNK = 2000
_GUESS_MAX = 4
# The untracked objects with several owners counted already, as one bit per 16 bytes of
# address (no two objects start in the same 16 bytes): a bytearray of 512 bytes for each 64 KB of
# address space that holds some, about 1% of that space at most with its dict entry.  256 sets of their ids took 1.9
# of the census's 2.6 MB peak on a 29 MB service of many modules (22,500 ids, 3.11, 2026-12-05).
_SEEN_REGION = 16
_SEEN_BYTES = 1 << (_SEEN_REGION - 7)
# What the census may add to the target's RSS at its peak: gc.get_objects() (8 bytes
# a tracked object), a chunk's lists, and the ids of the untracked objects that have
# several owners.  Measured 2026-12-02 (VmHWM, 3.11, 65 MB service, 213k tracked):
# +2 MB, and +10 MB when another thread held a list of 100k of its strs meanwhile.  Run in a
# thread of its own (inject/own_thread.py), that thread's glibc arena and stack come on top:
# peaks of 13.0-14.6 MB against the 14.1 MB that 4 MiB here allowed (2026-12-02): 6 MiB now.
_CENSUS_BYTES_PER_TRACKED = 48
_CENSUS_BYTES_FIXED = 6 << 20
_HUGE = 16384 * 8  # bytes of a list or tuple of 16384 items
_BUILTIN_FUNC = type(len)
_IS = (_module('_operator') or _module('operator')).is_
_T_DICTOFFSET = _TYPEDICT.get('__dictoffset__')
_FUNC_GLOBALS = _FUNC_TYPE.__dict__.get('__globals__')


def _count_elements_fn():
    """_collections._count_elements (C: d[k] = d.get(k, 0) + 1 for each k)
    when the target has loaded it already, else None.  Never imported here."""
    m = _modules().get('_collections')
    if type(m) is not _MOD_TYPE:
        return None
    try:
        f = dict.get(_MOD_DICT.__get__(m), '_count_elements')
    except Exception:
        return None
    return f if type(f) is _BUILTIN_FUNC else None


def _untracked(objs, bulky=None, dicts=None):
    """The untracked referents of objs, once per reference.  Each object's referents are
    listed and the tracked ones let go of within one C call: no bytecode runs in between,
    so no other thread can have made the payload their only owner (objs holds their
    owners).  One gc.get_referents(*objs), filtered afterwards, had to let go of them
    through _release instead: 0.5 s of a 3.9 s census of 1M records (3.11, 2026-12-04).
    That call lists _REFERENTS_STEP objects' referents at a time, each list freed inside it
    at its full size; so the bulky ones among objs (a list of those, or None: _add's choice,
    whose referents could be more than _BULKY / 8), and the hidden referents (dict keys,
    numpy bases), are listed apart, as before, and let go of through _release_referents
    (tracked: _release; the list: from its end, _free_gently says why).  (dicts: the dicts
    among objs, if known, a list this empties.)"""
    if bulky:
        skip = set(_map(id, bulky))
        small = list(o for o in objs if id(o) not in skip)
        skip.clear()
    else:
        small = objs
    n = len(small)
    groups = list(_map(small.__getitem__, _map(slice, range(0, n, _REFERENTS_STEP),
                                                 range(_REFERENTS_STEP, n + _REFERENTS_STEP, _REFERENTS_STEP))))
    un = list(_filterfalse(gc.is_tracked, _it.chain.from_iterable(_it.starmap(gc.get_referents, groups))))
    del small, groups
    if bulky:
        rs = gc.get_referents(*bulky)
        del bulky[:]  # (objs holds them)
        un.extend(_filterfalse(gc.is_tracked, rs))
        _release_referents(rs, False)  # un goes through _drain, which holds the unusual ones
    hidden = _hidden_referents(objs, None, dicts)
    if hidden:
        un.extend(_filterfalse(gc.is_tracked, hidden))
        _release_referents(hidden, False)
    return un


# _REFERENTS_STEP objects of at most _BULKY bytes each have at most 32 x 4096 / 8 = 16384
# referents (a container has at least 8 bytes per reference it holds): each list of them
# stays under 128 KiB, below glibc's first mmap threshold.  A group per object, the call
# took 0.3 s more on 1M records; every call is one more event for an audit hook.  Objects of
# a fixed size whose referents are not bounded by it (functools' lru_cache wrapper: 168
# bytes, 300,007 referents with a full cache, a review's find, 2026-12-04) are bulky
# whatever their size, unless their class is one of _FEW_REFERENTS_IDS or a class of the
# program's own (its slots and __dict__).
_REFERENTS_STEP = 32
_BULKY = 4096
_FEW_REFERENTS_IDS = frozenset(_map(id, _NOT_DATA + (_CELL_TYPE,)))


def _refcounts(objs):
    return list(_map(sys.getrefcount, objs))


def _one_owner_refcount():
    """What _refcounts(_untracked(...)) reads for an object with exactly one
    owner (the owner, the list, the call's own reference)."""
    box = [sys.maxsize * 3]  # an int made here: the list is its only owner
    un = _untracked([box])
    n = _refcounts(un)[0]
    del un[:], box[:]
    return n


def _first(e):
    return e[0]


def _may_own_dict(t):
    if _PY2 and t is _OLD_INSTANCE:
        return True
    if not _is_instance_like(t):
        return False
    try:
        return _T_DICTOFFSET.__get__(t) != 0
    except Exception:
        return True


_FIXED, _CSIZE, _EACH, _PLAN = 0, 1, 2, 3
_OBJ_SIZEOF = object.__dict__['__sizeof__']
_T_ITEMSIZE = _TYPEDICT.get('__itemsize__')
_T_SUBCLASSES = _TYPEDICT['__subclasses__']


def _classes_hash_safely():
    """True when every metaclass alive hashes and compares its classes with
    CPython's own code (no __hash__ or __eq__ written in Python): classes can
    then be dict keys.  Otherwise the census keys them by id()."""
    todo = [type]
    done = set()
    while todo:
        m = todo.pop()
        if id(m) in done:
            continue
        done.add(id(m))
        for name in ('__hash__', '__eq__'):
            f = _type_lookup(m, name)
            if f is not _NOTFOUND and type(f) is not _WRAPPER_DESCR:
                return False
        try:
            todo.extend(_T_SUBCLASSES(m))
        except Exception:
            return False
    return True


def _learn(st, t, sample):
    """First sight of class t (sample: one of its objects): how its objects are
    sized, and whether they can own a dict.  Returns the class's record
    [class, count, size, mode, sizeof, offset or constant size, owner kind, gc, keep,
    whether its objects are dicts whose str keys are read (3.x), whether all are bulky]."""
    mode, f, off = _CSIZE, None, 0
    p = _sizeof_plan(t)
    if p is not None:
        # a __sizeof__ written in Python: the C one beneath it, never it
        mode, f, off = _PLAN, p, (_GC_HEADER if _tflags(t) & _HAVE_GC else 0)
    elif issubclass(t, type):
        mode = _EACH  # static classes have no gc header, heap classes do
    else:
        f = _type_lookup(t, '__sizeof__')
        try:
            if f is _OBJ_SIZEOF and _T_ITEMSIZE.__get__(t) == 0:
                mode, off = _FIXED, sys.getsizeof(sample)
            else:
                off = sys.getsizeof(sample) - f(sample)
        except Exception:
            mode, f, off = _EACH, None, 0
    if t is _MOD_TYPE:
        kind = 'module'
    elif t is _FUNC_TYPE:
        kind = 'function'
    elif issubclass(t, type):
        kind = 'class'
    elif _may_own_dict(t):
        kind = 'inst'
    else:
        kind = None
    # gc: whether the census looks at what its objects hold (those of the collector, and numpy arrays' bases)
    rec = [t, 0, 0, mode, f, off, kind, bool(_tflags(t) & _HAVE_GC) or _holds_hidden_referents(t),
           id(t) not in _PLAIN_TYPE_IDS, not _PY2 and _is_dict_class(t), False]
    rec[_R_BULKY] = (mode == _FIXED and rec[_R_GC] and not _tflags(t) & _HEAPTYPE
                     and id(t) not in _FEW_REFERENTS_IDS)
    st['info'][id(t)] = rec
    return rec


def _claim(st, d, kind, once):
    """d is the __dict__ of a module, class, function or instance: counted as
    'dict (no owner)' by the census, moved to `kind` at the end."""
    if type(d) is not dict or id(d) in st['ignore']:
        return
    if once:
        if id(d) in st['owned_ids']:
            return
        st['owned_ids'].add(id(d))
    try:
        s = sys.getsizeof(d)
    except Exception:
        s = 0
    e = st['owned'].get(kind)
    if e is None:
        st['owned'][kind] = [1, s]
    else:
        e[0] += 1
        e[1] += s


def _first_item(d):
    for kv in (d.iteritems() if _PY2 else d.items()):
        return kv
    return None


def _kind_of(st, t):
    k = id(t)
    n = st['names'].get(k)
    if n is None:
        n = st['names'][k] = _type_name(t, _kind_names())
    return n


def _owners(st, objs, rec):
    """The dicts that objs (modules, classes, functions or instances, all of
    class rec[_R_TYPE]) own."""
    t, kind = rec[_R_TYPE], rec[_R_OWNS]
    if kind == 'module':
        for o in objs:
            try:
                _claim(st, _MOD_DICT.__get__(o), 'dict of module', True)
            except Exception:
                pass
    elif kind == 'class':
        kn = 'dict of ' + _kind_of(st, t)
        for o in objs:
            try:
                for r in gc.get_referents(_T_DICTPROXY.__get__(o)):
                    if type(r) is dict:
                        _claim(st, r, kn, True)
            except Exception:
                pass
    elif kind == 'function':
        # a function's own __dict__ (rare): a dict referent, not its globals,
        # whose first key resolves to its first value
        for o in objs:
            try:
                g = _FUNC_GLOBALS.__get__(o)
            except Exception:
                g = None
            for r in gc.get_referents(o):
                if type(r) is dict and r is not g and r and id(r) not in st['owned_ids']:
                    kv = _first_item(r)
                    if kv is not None and type(kv[0]) is str and _plain_getattr(o, kv[0]) is kv[1]:
                        _claim(st, r, 'dict of function', True)
    else:
        did = set([id(dict)])
        rs = gc.get_referents(*objs)
        if did.isdisjoint(_map(id, _map(type, rs))):
            _release(rs)
            return  # 3.11+: no materialised __dict__
        kn = 'dict of ' + _kind_of(st, t)
        if sys.version_info < (3, 11) and not _slot_descrs(t):
            # <= 3.10 without slots: every dict referent is the instance dict
            for d in _it.compress(rs, _map(did.__contains__, _map(id, _map(type, rs)))):
                _claim(st, d, kn, False)
        else:
            for o in objs:
                d = _instance_dict(o, t, gc.get_referents(o))  # rs holds them meanwhile
                if d is not None:
                    _claim(st, d, kn, False)
        d = o = None
        _release(rs)


def _keep_largest(st, batch, sizes):
    thr = st['thr']
    if max(sizes) <= thr:
        return
    big = st['big']
    if _PY2:
        idx = [i for i, s in enumerate(sizes) if s > thr]
    else:
        idx = _it.compress(_it.count(), _map(thr.__lt__, sizes))
    for i in idx:
        big.append((sizes[i], batch[i]))
    n = st['nlarge']
    if len(big) >= n:
        big.sort(key=_first, reverse=True)
        dropped = list(e[1] for e in big[n:])  # a generator: on 2.7 a list comprehension's e would outlive it
        del big[n:]
        _release(dropped)
        st['thr'] = big[-1][0]


def _sizes_of(rec, objs):
    """Sizes of objs, all of class rec[_R_TYPE], as sys.getsizeof gives them (never
    calling a __sizeof__ written in Python)."""
    mode, f, off = rec[_R_MODE], rec[_R_SIZER], rec[_R_ITEM]
    if mode == _CSIZE:
        try:
            sz = list(_map(f, objs))
            if off:
                sz = list(_map(off.__add__, sz))
            return sz
        except Exception:
            pass
    out = []
    for o in objs:
        try:
            if mode == _PLAN:
                s = f(o)
                s = (s + off) if type(s) is int and s >= 0 else 0
            else:
                s = sys.getsizeof(o)
        except Exception:
            s = 0
        out.append(s)
    return out


def _add(st, batch, tracked):
    """Count the objects of batch, note the dicts that those of them that can
    own one own; returns those of them whose referents are to be looked at."""
    types = list(_map(type, batch))
    bc = {}
    count = st['count']
    info = st['info']
    if st['hash_ok']:
        keys = types
    else:
        keys = list(_map(id, types))
    if st['hash_ok']:
        # the classes of the last batch of its kind first: when they are all there are, no pass hashes them
        guess = st['guess'][tracked]
        n = 0
        for k in guess:
            c = keys.count(k)  # (C: by identity, else type's own comparison: _classes_hash_safely)
            if c:
                bc[k] = c
                n += c
        k = None
        if n != len(keys):  # another class: counted afresh
            bc.clear()
            bc.update(dict.fromkeys(keys, 0))
            if len(bc) <= _GUESS_MAX:
                for k in list(bc):
                    bc[k] = keys.count(k)  # (C: by identity, else type's own comparison)
            elif count is not None:
                count(bc, keys)
            else:
                for k in keys:
                    bc[k] += 1
        st['guess'][tracked] = list(bc) if len(bc) <= _GUESS_MAX else []
    elif count is not None:
        count(bc, keys)
    else:
        for k in keys:
            bc[k] = bc.get(k, 0) + 1
    single = len(bc) == 1
    nlarge = st['nlarge']
    hash_ok = st['hash_ok']
    parents = batch if tracked else []
    todo = []
    for key, c in list(bc.items()):
        rec = info.get(id(key) if hash_ok else key)
        if rec is None:
            # list.index compares classes: by identity, or with a vetted __eq__
            i = keys.index(key)
            rec = _learn(st, types[i], batch[i])
        rec[_R_COUNT] += c
        if ((not tracked and (rec[_R_GC] or rec[_R_KEEP])) or rec[_R_OWNS] is not None or rec[_R_MODE] != _FIXED
                or nlarge or (tracked and rec[_R_BULKY])):
            todo.append((key, rec))
        else:
            rec[_R_SIZE] += c * rec[_R_ITEM]
    groups = None
    if len(todo) > 4:
        # many classes in this batch: one pass sorts the objects out
        groups = {}
        for key, rec in todo:
            groups[key] = []
        get = groups.get
        for o, key in _zip(batch, keys):
            g = get(key)
            if g is not None:
                g.append(o)
    for key, rec in todo:
        if (not tracked and not nlarge and rec[_R_MODE] == _CSIZE and not rec[_R_GC] and not rec[_R_KEEP]
                and not rec[_R_DICT] and rec[_R_OWNS] is None):
            # only their sizes are needed (plain atoms): summed in one pass, with no list of them or of their sizes
            if single:
                them = batch
            elif groups is not None:
                them = groups[key]
            elif hash_ok:  # (keys are the classes: compared by identity)
                them = _it.compress(batch, _map(_IS, keys, _it.repeat(key)))
            else:
                them = _it.compress(batch, _map(set([key]).__contains__, keys))
            try:
                rec[_R_SIZE] += sum(_map(rec[_R_SIZER], them)) + rec[_R_ITEM] * bc[key]
                continue
            except Exception:
                pass  # (nothing added: counted below, object by object)
            finally:
                them = None
        if single:
            sub = batch
        elif groups is not None:
            sub = groups[key]
        else:
            sub = list(_it.compress(batch, _map(set([key]).__contains__, keys)))
        if not tracked and rec[_R_KEEP]:  # first: held even if what follows raises
            _keep(list(sub))
        if rec[_R_MODE] == _FIXED:
            rec[_R_SIZE] += len(sub) * rec[_R_ITEM]
            if nlarge and rec[_R_ITEM] > st['thr']:
                _keep_largest(st, sub, [rec[_R_ITEM]] * len(sub))
            if rec[_R_BULKY] and (tracked or rec[_R_GC]):
                st['bulky'].extend(sub)
        else:
            sz = _sizes_of(rec, sub)
            rec[_R_SIZE] += sum(sz)
            if nlarge and sz and max(sz) > st['thr']:
                _keep_largest(st, sub, sz)
            if (tracked or rec[_R_GC]) and sz and max(sz) > _BULKY:
                if tracked and (rec[_R_TYPE] is list or rec[_R_TYPE] is tuple) and max(sz) > _HUGE:
                    # looked at slice by slice later, not with one gc.get_referents
                    st['huge'].extend(o for o, s in _zip(sub, sz) if s > _HUGE)
                    st['bulky'].extend(o for o, s in _zip(sub, sz) if _BULKY < s <= _HUGE)
                else:
                    st['bulky'].extend(o for o, s in _zip(sub, sz) if s > _BULKY)
            del sz
        if not tracked and rec[_R_GC]:
            parents.extend(sub)
        if rec[_R_DICT]:
            st['dicts'].extend(sub)  # whose str keys _untracked reads
        if rec[_R_OWNS] is not None:
            _owners(st, sub, rec)
        del sub
    if groups is not None:
        groups.clear()
    del todo[:]
    if tracked and st['huge']:
        hid = set(_map(id, st['huge']))
        parents = [o for o in batch if id(o) not in hid]
    bc.clear()
    return parents


def _drain(st, seen, un, base):
    """Count the untracked objects un (referents of objects counted already),
    then theirs, and so on.  An object whose reference count is `base` has
    one owner and is counted here once; the others go through `seen`.
    At most _CHUNK of them at a time: one dict of 100k records has 100k
    referents, and its keys, had another list held them too (a heartbeat's
    sorted(data)), went through a map of ids all at once: the census's peak was
    12 MB more on a 65 MB service, 2 MB in slices (2026-12-02, 3.11)."""
    is_base = set([base]).__contains__
    not_base = base.__sub__
    pending = [un]
    del un
    while pending:
        rest = pending[-1]
        if len(rest) > _CHUNK:
            part = rest[-_CHUNK:]
            del rest[-_CHUNK:]
        else:
            part = pending.pop()
        del rest
        # The unusual ones (_keep_unusual) among them are held to the end: those of one owner
        # by _add, which sorts them by class anyway (checked here, object by object, it was 0.4 s
        # of a 5.2 s census of 6M objects, 2026-12-03), the others here, counted already or not.
        rc = _refcounts(part)
        if rc.count(base) == len(rc):  # (the usual case: each has one owner; no copy)
            batch = part
        else:
            batch = list(_it.compress(part, _map(is_base, rc)))
        if batch is not part and len(batch) < len(part):
            multi = list(_it.compress(part, _map(not_base, rc)))
            d = dict(_zip(_map(id, multi), multi))
            _keep_unusual(list(d.values()))  # once per object: a date a million records share, held once
            fresh = []
            for i in d:  # the distinct ones of this slice: few (None, small ints, names)
                r = seen.get(i >> _SEEN_REGION)
                if r is None:
                    r = seen[i >> _SEEN_REGION] = bytearray(_SEEN_BYTES)
                k, m = (i >> 7) & (_SEEN_BYTES - 1), 1 << ((i >> 4) & 7)
                if not r[k] & m:
                    r[k] |= m
                    fresh.append(i)
            if fresh:
                batch.extend(_map(d.__getitem__, fresh))
            d.clear()
            del multi, d, fresh
        del part, rc
        if batch:
            parents = _add(st, batch, False)
            del batch
            if parents:
                pending.append(_untracked(parents, st['bulky'], st['dicts']))
            del parents


def _all_running_frames():
    """Every frame the target's threads run now, in a list to let go of with _release: other
    threads run between the payload's chunks, and a frame whose function returns meanwhile must
    not die here, running its locals' finalizers in the payload's thread (seen on 2.7)."""
    current = sys._current_frames()
    tops = list(current.values())
    current.clear()
    walked = []
    for f in tops:
        while f is not None:
            walked.append(f)
            f = f.f_back
    f = None
    _release(tops)
    return walked


def _running_frames(walked):
    """The frames of `walked` that gc.get_objects() does not list: 3.8-3.10 track a frame only
    once it has returned, and 3.11+ make a frame object only when asked (and keep it until the
    frame returns: what sys._current_frames() and tracebacks do too).  Their locals can be the
    only owners of untracked objects: a thread's 3 MB bytearray local was in no row.  The
    payload's own frames are left out; below them, the frames of the thread it runs in count."""
    ours = sys._getframe().f_globals
    running = []
    for f in walked:
        if f.f_globals is not ours and not gc.is_tracked(f):
            running.append(f)
    f = None
    return running


def _held_by_locals(frames):
    """3.13+: the untracked values of the running frames' locals, through f_locals, which reads
    the frame's own slots (PEP 667) and changes nothing.  On 3.11 and 3.12 a running frame's
    collector visit shows no locals, and f_locals there would copy them into a dict that stays
    with the frame and keeps the values alive after the function drops them: not done, so
    those locals go uncounted (docs/limits.md).  Before 3.11 the frames themselves are counted."""
    held = []
    if sys.version_info >= (3, 13):
        for f in frames:
            code = f.f_code
            if not code.co_flags & 1:  # not CO_OPTIMIZED: f_locals is a dict the collector lists
                continue
            # plain locals only: a cell's value is the cell's, counted through it
            names = [n for n in code.co_varnames if n not in code.co_cellvars]
            proxy = f.f_locals
            for name in names:
                if name in proxy:
                    v = proxy[name]
                    if not gc.is_tracked(v):
                        held.append(v)
            v = proxy = None
    return held


def _census(top, nlarge, ignore):
    """(result, [(size, object)] of the nlarge largest objects)."""
    ignore.add(id(ignore))
    ignore.add(id(sys._getframe()))
    base = _one_owner_refcount()
    walked = _all_running_frames()
    running = _running_frames(walked)
    ignore.add(id(walked))
    ignore.add(id(running))
    objs = _snapshot()
    locals_held = _held_by_locals(running)
    if sys.version_info < (3, 11):
        objs.extend(running)  # frame objects of their own, not tracked: counted, and their locals with them
    del running[:]  # walked still holds them, let go of at the end
    # everything below is made after the snapshot: not in it
    st = {'info': {}, 'names': {}, 'owned': {}, 'owned_ids': set(), 'big': [], 'thr': -1,
          'nlarge': nlarge, 'ignore': ignore, 'huge': [], 'bulky': [], 'dicts': [], 'count': _count_elements_fn(),
          'hash_ok': _classes_hash_safely(), 'guess': {True: [], False: []}}
    for v in list(st.values()):
        ignore.add(id(v))
    ignore.add(id(st))
    # The untracked objects with several owners, counted already (_SEEN_REGION), in many
    # small pieces: one set of their ids was freed at its full size, 4 MB when a heartbeat held a
    # sorted list of a 100k-record dict's keys: glibc then raised its mmap threshold, and the
    # heartbeat's next 800 KB list came from its arena, which stayed 0.8 MB bigger for good
    # (2026-12-02, 3.11; _free_gently in _gdb_memleak_release.py says more).
    seen = {}
    ignore.add(id(seen))
    while objs:
        if _gdb_gone():  # no one will read the answer: the rest let go of as each batch is
            _release(objs, True)
            break
        # from the end, shrinking the list as it goes: its memory is given back
        # with realloc, never freed at its full size (glibc would then raise its
        # mmap and trim thresholds, and keep that much of the heap afterwards; held
        # whole to the end instead, it left the target 0.8 MB bigger after ten
        # sessions).  Each batch is let go of through _release once counted.
        batch = objs[-_CHUNK:]
        del objs[-_CHUNK:]
        if not ignore.isdisjoint(_map(id, batch)):
            batch = list(o for o in batch if id(o) not in ignore)
        parents = _add(st, batch, True)
        _drain(st, seen, _untracked(parents, st['bulky'], st['dicts']) if parents else [], base)
        del parents
        huge = st['huge']
        while huge:
            box = [huge.pop()]
            o = box[0]
            for j in range(0, len(o), _CHUNK * 8):
                part = o[j:j + _CHUNK * 8]
                if type(part) is not list:  # a tuple's slice: a tuple, which _release cannot empty (o holds its items)
                    part = list(part)
                un = list(_filterfalse(gc.is_tracked, part))
                _release(part)
                _drain(st, seen, un, base)
                del un
            o = None
            _release(box, True)
        _release(batch, True)
    _drain(st, seen, locals_held, base)  # what is theirs alone (one owner) counted here, the rest once
    _release(walked)
    del objs
    seen.clear()
    # ---- rows ----
    info = st['info']
    task = _task_type()
    tasks = sum(rec[_R_COUNT] for rec in info.values() if task is not None and _is_task_class(rec[_R_TYPE], task))
    per = {}
    for k, rec in info.items():
        per[k] = (rec[_R_COUNT], rec[_R_SIZE])
    rows = {}
    for k, (c, s) in per.items():
        t = info[k][0]
        name = 'dict (no owner)' if t is dict else _kind_of(st, t)
        if t is dict:
            for oc, os_ in st['owned'].values():
                c -= oc
                s -= os_
            c, s = max(c, 0), max(s, 0)
        e = rows.get(name)
        if e is None:
            rows[name] = [c, s]
        else:
            e[0] += c
            e[1] += s
    for name, (c, s) in st['owned'].items():
        e = rows.get(name)
        if e is None:
            rows[name] = [c, s]
        else:
            e[0] += c
            e[1] += s
    per.clear()
    total_count = sum(e[0] for e in rows.values())
    total_size = sum(e[1] for e in rows.values())
    order = sorted(([v[1], v[0], k] for k, v in rows.items() if v[0] > 0), reverse=True)
    rows.clear()
    out = {
        'total_count': total_count,
        'total_size': total_size,
        'rows': [{'kind': k, 'count': c, 'size': s} for s, c, k in order[:top]],
        'more_rows': max(0, len(order) - top),
        'task_count': tasks,
    }
    del order[:]
    big = st['big']
    big.sort(key=_first, reverse=True)
    dropped = list(e[1] for e in big[nlarge:])
    del big[nlarge:]
    dropped.extend(rec[_R_TYPE] for rec in info.values())  # the classes counted
    rec = None
    del st['ignore'], st['big']
    for k in ('huge', 'bulky', 'dicts'):  # empty unless a step raised: let go of as the rest
        _release(st[k])
    for v in list(st.values()):
        if type(v) is dict or type(v) is set:
            v.clear()
    st.clear()
    _release(dropped)
    return out, big


# ------------------------------------------------------------------ asyncio tasks
#
# Leaked tasks show in the census as a count of _asyncio.Task; where each one waits does
# not (issue 14).  When the census counts at least _TASKS_SHOWN_FROM of them, the pending
# ones are grouped by where their innermost coroutine is suspended.  Everything is read
# through the C accessors of _asyncio.Task (its own get_coro, or _coro on 3.6/3.7, and done,
# never a subclass's override) and of coroutines, generators and frames: no code of the
# target's runs.

_TASKS_SHOWN_FROM = 100
_TASK_PLACES = 10


def _task_type():
    m = dict.get(_modules(), '_asyncio')
    t = _MOD_DICT.__get__(m).get('Task') if type(m) is _MOD_TYPE else None
    return t if type(t) is type else None


def _is_task_class(t, task):
    mro = _T_MRO.__get__(t)
    return type(mro) is tuple and task in mro


def _task_places(task, limit):
    """[{"count", "file", "line", "function", "task"}] for pending tasks, most common places first;
    None where coroutines cannot be told apart."""
    methods = _TYPEDICT['__dict__'].__get__(task)
    get_coro, done = methods.get('get_coro'), methods.get('done')
    # 3.6 and 3.7 have no get_coro: _asyncio.Task's own C getter of the same field, read from its
    # dict, so that no subclass's property can run
    coro_getter = methods.get('_coro')
    if get_coro is None and type(coro_getter) is _GETSET_DESCR:
        get_coro = coro_getter.__get__
    if get_coro is None or done is None:
        return None

    types = _module('types')  # (imported at start-up by any 3.x service that can have tasks)
    coro_t = _MOD_DICT.__get__(types).get('CoroutineType') if types is not None else None
    if type(coro_t) is not type:
        return None
    cr = _TYPEDICT['__dict__'].__get__(coro_t)
    cr_await, cr_frame, cr_code = cr['cr_await'], cr['cr_frame'], cr['cr_code']
    gen_t = type(_x for _x in ())
    gi = _TYPEDICT['__dict__'].__get__(gen_t)
    gi_from, gi_frame, gi_code = gi['gi_yieldfrom'], gi['gi_frame'], gi['gi_code']
    f_lineno = _TYPEDICT['__dict__'].__get__(_FRAME_TYPE)['f_lineno']
    library = _library_test()
    places = {}
    objs = gc.get_objects()  # (the census's snapshot is used up by now)
    for o in objs:
        t = type(o)
        if t is not task and not (type(t) is type and _is_task_class(t, task)):
            continue
        if done(o):
            continue
        c = outer = get_coro(o)
        mine = None  # the innermost coroutine of the application's own code
        for _ in range(64):  # the await chain, to the innermost coroutine or generator
            if type(c) is coro_t or type(c) is gen_t:
                code = cr_code.__get__(c) if type(c) is coro_t else gi_code.__get__(c)
                if not library(code.co_filename):
                    mine = c
            nxt = cr_await.__get__(c) if type(c) is coro_t else gi_from.__get__(c) if type(c) is gen_t else None
            if type(nxt) is not coro_t and type(nxt) is not gen_t:
                break
            c = nxt
        if mine is not None:  # where the application waits, rather than inside asyncio's own locks
            c = mine
        if type(c) is coro_t:
            frame, code = cr_frame.__get__(c), cr_code.__get__(c)
        elif type(c) is gen_t:
            frame, code = gi_frame.__get__(c), gi_code.__get__(c)
        else:
            continue
        line = f_lineno.__get__(frame) if frame is not None else code.co_firstlineno
        first = cr_code.__get__(outer) if type(outer) is coro_t else gi_code.__get__(outer) if type(outer) is gen_t else None
        key = (_plain(code.co_filename, 300), line, _plain(code.co_name, 100),
               _plain(first.co_name, 100) if first is not None else None)
        places[key] = places.get(key, 0) + 1
    o = c = outer = nxt = frame = code = first = mine = None
    _release(objs, True)
    order = sorted(places.items(), key=lambda item: -item[1])[:limit]
    places.clear()
    return [{'count': n, 'file': f, 'line': ln, 'function': fn, 'task': tk} for (f, ln, fn, tk), n in order]


# special methods guppy's C code calls on classes, through their metaclass (it
# hashes classes and reads __dict__, __module__, __name__, __bases__, which
# every class has, so a metaclass __getattr__ is never reached)
_GUPPY_META_HOOKS = ('__getattribute__', '__hash__', '__eq__', '__sizeof__')
_STDLIB = getattr(sys, 'stdlib_module_names', None) or frozenset(
    ('abc', 'enum', 'typing', 'collections', 'functools', 'types', 'weakref', '_weakrefset', 're', 'sre_compile'))


def _from_stdlib(k):
    # the class is the interpreter's own (typing._DeprecatedType, enum.EnumType ...)
    mod = _qualname(k)[0]
    return mod is not None and mod.split('.')[0] in _STDLIB


def _guppy_hazards(limit=3):
    """Classes whose own code guppy would run: a __sizeof__ written in Python
    (guppy sizes objects with it) or a metaclass overriding how classes are
    hashed, compared, read or sized.  Found without running any of it; the
    standard library's classes are trusted."""
    found = []
    for o in _snapshot():
        if not issubclass(type(o), type) or not (_tflags(o) & _HEAPTYPE):
            continue
        hook = None
        if _sizeof_plan(o) is not None:
            k = next((k for k in _tmro(o) if '__sizeof__' in _tdict(k)), o)
            hook = None if _from_stdlib(k) else '__sizeof__'
        if hook is None and issubclass(o, type):
            for k in _tmro(o):
                if k is type or k is object:
                    break
                d = _tdict(k)
                h = next((h for h in _GUPPY_META_HOOKS if h in d), None)
                if h is not None and not _from_stdlib(k):
                    hook = h
                    break
        if hook is not None:
            found.append(_type_name(o) + '.' + hook)
            if len(found) >= limit:
                break
    return found


def _guppy(top):
    import guppy
    real_collect = gc.collect
    gc.collect = lambda *a, **k: 0
    try:
        # One hpy() per target, kept on the guppy module (which stays imported anyway):
        # each new one leaves ~1,200 objects of guppy's own cycles behind.
        namespace = _MOD_DICT.__get__(guppy)
        h = namespace.get('_gdb_memleak_hpy')
        if h is None:
            h = namespace['_gdb_memleak_hpy'] = guppy.hpy()
        heap = h.heap()
        rows = []
        nrows = 0
        part = heap.partition
        for row in part.get_rows():
            if nrows < top:
                rows.append({'kind': _plain(row.name, 300) or '?', 'count': int(row.count), 'size': int(row.size)})
            nrows += 1
        out = {'total_count': int(heap.count), 'total_size': int(heap.size),
               'rows': rows, 'more_rows': max(0, nrows - top)}
        # The heap's set may be the last owner of what the target dropped meanwhile: it dies in a
        # thread of its own (_hand_back), not here.  So does a copy of guppy's map of each dict to
        # the object that owns it (View.dict_ownership), which the hpy kept here holds: a collection
        # empties it only when it is sorted, and in-process 10,000 instances the program dropped
        # stayed alive after gc.collect() (guppy3 3.1.7, 2026-12-07); emptied, they died with it.
        _ORPHANS.extend((heap, part))
        owners = getattr(h.View, 'dict_ownership', None)
        if owners is not None:
            _ORPHANS.append(owners.copy())  # (a copy that failed leaves the map as it was)
            owners.clear()
        del part, row, heap, h, owners
    finally:
        gc.collect = real_collect
    return out


# labels, edges and attribute lookups: _short, _edge, _key_label ... in _gdb_memleak_labels.py;
# --largest's ranking and paths (_largest): _gdb_memleak_largest.py


def gdb_memleak_payload(args):
    args = args or {}
    _gdb_is(args.get('tracer'), args.get('traps'))
    if _GDB[2]:
        return _GDB_GONE
    since = args.get('since')  # py-heap --since NAME: the mark, read before counting
    since_mark = _mark_get(since) if since is not None else None
    if since is not None and since_mark is None:
        return _no_mark(since)
    top = int(args.get('top', 10))
    nlarge = int(args.get('largest', 0))
    backend = args.get('backend', 'auto') or 'auto'
    note = res = None
    try:
        use_guppy = backend == 'guppy'
        if use_guppy:  # before the import: a refused run must leave no guppy behind (it stays imported)
            hazards = _guppy_hazards()
            if hazards:
                why = ('guppy would run the target\'s own code (%s); the census backend '
                       'does not' % ', '.join(hazards))
                if backend == 'guppy':
                    return {'refusal': {'code': 'hazard', 'reason': '--backend guppy refused: ' + why + ' (use --backend census)'}}
                note = 'census backend used: ' + why
                use_guppy = False
        if use_guppy:
            try:
                __import__('guppy')
            except Exception as e:
                if backend == 'guppy':
                    return {'refusal': {'code': 'tool_missing', 'reason': 'guppy3 not importable in the target: %s' % _exc_text(e)}}
                note = 'guppy3 not importable in the target: %s' % _exc_text(e)
                use_guppy = False
        if use_guppy:
            res = _guppy(top)
            res['backend'] = 'guppy'
            if sys.version_info >= (3, 11):
                note = ('guppy traversal creates the lazily-built __dict__ of '
                        'instances on Python 3.11+ (they stay)')
        ignore = _own_ids()
        if '_marks_ids' in globals():  # the marks kept in the target are ours, not the target's
            ignore.update(_marks_ids())
        if since_mark is not None:  # and so is the copy of the one read for --since
            ignore.update((id(since_mark), id(since_mark['rows'])))
            ignore.update(_map(id, since_mark['rows']))
        largest = []
        if res is None or nlarge > 0:
            refusal = _no_room(args, _CENSUS_BYTES_PER_TRACKED, _CENSUS_BYTES_FIXED)
            if refusal is not None:
                return refusal
            tracked = len(_snapshot())
            time = _module('time')
            clock = getattr(time, 'monotonic', time.time)  # (2.7: no monotonic)
            started = clock()
            census, big = _census(top, nlarge, ignore)
            took = clock() - started
            if res is None:
                res = census
                res['backend'] = 'census'
            if nlarge > 0:
                largest = _largest(big, ignore, nlarge, args, tracked, max(_WALK_SECONDS_MIN, _WALK_SHARE * took))
            del big, census
        if gc.get_freeze_count() if hasattr(gc, 'get_freeze_count') else 0:
            fz = ("gc's permanent generation holds %d objects (gc.freeze(); on 3.12 also some of the "
                  "interpreter's own): gc.get_objects() does not list them" % gc.get_freeze_count())
            note = fz if note is None else note + '; ' + fz
        res['largest'] = largest
        res['tasks'] = None
        res.setdefault('task_count', None)  # (the guppy backend does not count them)
        if (res['task_count'] or 0) >= _TASKS_SHOWN_FROM:  # many asyncio tasks: where do they wait?
            res['tasks'] = _task_places(_task_type(), _TASK_PLACES)
        res['note'] = note
        mark = args.get('mark')  # py-heap --mark NAME: stored here, in the same safe point
        if mark:
            rows = [[r['kind'], r['count'], r['size']] for r in res['rows']]
            res['stored_mark'] = _mark_set(mark['name'], mark['time'], rows, res['total_count'], res['total_size'])
            del rows[:]
            res['rows'] = []  # the gdb side needs only the summary
        if since_mark is not None:
            res['since_mark'] = since_mark
        return res
    finally:
        _clear_caches()
        back = _hand_back()
        if back is not None and type(res) is dict:
            res['note'] = back if res.get('note') is None else res['note'] + '; ' + back
        _mod_cleanup()


if __name__ == "__main__":
    try:
        _doc = gdb_memleak_payload({})
    finally:
        __gdb_memleak_leave__(__gdb_memleak_state__)
        __gdb_memleak_quiet_end__(__gdb_memleak_quiet__)
    import json, sys
    sys.stdout.write(json.dumps(_doc) + "\n")
    sys.stdout.flush()
