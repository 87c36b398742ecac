# gdb-memleak payload helper: retained sizes (runs INSIDE the target interpreter).
#
# Python 2.7 and 3.6+, standard library only; sent after _gdb_memleak_common.py and
# the other shared helpers, whose names it uses.  heap.py's --largest ranks objects with it (issue 14).
#
# What an object retains is what would be freed if it went: itself and every object
# that only it keeps alive, at any depth and through cycles (Eclipse MAT's and
# guppy's "retained set", the dominated objects).  It is found per object, with no
# map of the whole heap (about 0.7 us per object visited, 3.11):
#  * references are followed from the object.  One whose reference count says it has
#    a single owner belongs to the set at once: it is counted and forgotten, nothing
#    is kept for it.  That is most of a leak: the dicts in a list, the strs in them.
#  * one with several owners is noted once (an entry: its owners, and the references
#    to it found inside), and its own references are followed too, counted with it:
#    a cycle back into the set makes it one of the set;
#  * then, until nothing changes, a noted object with more owners than references
#    from inside is outside the set (something else keeps it alive), and with it what
#    was counted with it, whose references inside no longer count.
# Classes, modules and module dicts are never followed: the interpreter keeps them,
# and through them everything is reachable.  Reference counts are read while the
# target's other threads run: an object they give or take a reference to meanwhile
# can be counted on the wrong side.  A walk that runs out of its budget (objects
# visited, entries noted, time: half as long as the census took, at least 0.5 s:
# heap.py's _WALK_SHARE) stops there and says its figure is a lower bound.

# An entry, for an object with several owners: the object, its owners, references to
# it found inside, bytes and objects counted with it, the entries its part refers to,
# still in the set, a direct referent of the measured object.
_E_OBJ, _E_OWNERS, _E_INSIDE, _E_BYTES, _E_COUNT, _E_TO, _E_IN, _E_DIRECT = range(8)
# What an entry costs in the target: its list, its slot in the map, its int id, and
# the references to it from other entries' lists (measured on 3.11: about 230 bytes).
_ENTRY_BYTES = 300
# The map of entries stays below 128 KiB (a dict is freed at its full size: _free_gently).
# A walk past that many objects of several owners stops, with a lower bound.  A heartbeat
# that held a sorted list of a 100k-record dict's keys gave each of them a second owner:
# 100k entries, a 2.6 MB map, and a 65 MB service 0.8 MB bigger for good (2026-12-02).
_ENTRIES_MAX = 4000
_RETAINED_CHUNK = 2000
_SKIP = None
_NEW = object()


def _gateway_ids():
    """ids of the module dicts: reached from every function, never owned by data."""
    ids = set()
    for m in list(_modules().values()):
        if type(m) is _MOD_TYPE:
            try:
                ids.add(id(_MOD_DICT.__get__(m)))
            except Exception:
                pass
    return ids


def _retained_walk(st, x, cand_ids):
    """Measure what x retains.  st holds the run's state: 'base', 'skip' (ids never
    followed), 'visits' and 'entries' left.  Returns [bytes, objects, complete,
    (kind, count) of the direct referents it retains or None, ids of cand_ids within]."""
    base = st['base']
    is_one = set([base]).__contains__
    entries = {}
    root = [x, 0, 0, 0, 0, None, True, False]
    within = set()
    kinds = {}
    queue = [root]
    complete = True
    while queue:
        unit = queue.pop()
        if st['visits'] <= 0 or len(entries) > st['entries'] or st['clock']() > st['deadline']:
            complete = False
            break
        if not _retained_unit(st, unit, root, entries, queue, cand_ids, within, kinds if unit is root else None,
                              is_one, base):
            complete = False
            break
    for e in queue:  # never followed: counted outside (a lower bound)
        e[_E_IN] = False
    del queue[:]
    todo = [e for e in entries.values() if e is not _SKIP and e[_E_IN] and e[_E_OWNERS] > e[_E_INSIDE]]
    while todo:
        e = todo.pop()
        if not e[_E_IN]:
            continue
        e[_E_IN] = False
        to = e[_E_TO] or ()
        for j in range(0, len(to), 2):
            f = to[j]
            f[_E_INSIDE] -= to[j + 1]
            if f[_E_IN] and f[_E_OWNERS] > f[_E_INSIDE]:
                todo.append(f)
    total, count = root[_E_BYTES], root[_E_COUNT]
    held = []
    for i, e in entries.items():
        if e is _SKIP:
            continue
        held.append(e[_E_OBJ])
        if e[_E_IN]:
            total += e[_E_BYTES]
            count += e[_E_COUNT]
            if i in cand_ids:
                within.add(i)
            if e[_E_DIRECT]:
                _tally(kinds, [e[_E_OBJ]])
        e[_E_OBJ] = e[_E_TO] = None
    entries.clear()
    root[_E_OBJ] = None
    items = None
    if kinds:
        t, n, s = max(kinds.values(), key=_by_count_then_size)
        items = (_type_name(t), n)
        kinds.clear()
    _release(held)
    return [total, count, complete, items, within]


def _by_count_then_size(k):
    return (k[1], k[2])


def _tally(kinds, objs):
    """Count objs by class into kinds, a slice at a time (_sizes makes lists as long as
    what it is given; the one of a 100k-record dict's 200k referents, freed at its full
    size, raised glibc's thresholds: _free_gently)."""
    for j in range(0, len(objs), _RETAINED_CHUNK):
        part = objs[j:j + _RETAINED_CHUNK]
        for o, s in _zip(part, _sizes(part)):
            t = type(o)
            k = kinds.get(id(t))
            if k is None:
                kinds[id(t)] = [t, 1, s]
            else:
                k[1] += 1
                k[2] += s
        o = None
        del part[:]


def _retained_unit(st, unit, root, entries, queue, cand_ids, within, kinds, is_one, base):
    """Count unit's object and the objects only it owns, note the others (entries).
    False when the budget ran out first."""
    frontier = [unit[_E_OBJ]]
    skip = st['skip']
    rid = id(root[_E_OBJ])
    count = st['count']
    while frontier:
        if st['visits'] <= 0 or st['clock']() > st['deadline']:
            _release(frontier)
            return False
        part = frontier[-_RETAINED_CHUNK:]
        del frontier[-_RETAINED_CHUNK:]
        tl = list(_map(type, part))
        unit[_E_BYTES] += sum(_sizes(part, tl))
        unit[_E_COUNT] += len(part)
        st['visits'] -= len(part)
        rs = gc.get_referents(*part)
        keys = _hidden_referents(part, tl)
        rs.extend(keys)
        _free_gently(keys)
        del tl
        _release(part, True)  # distinct: an object with one owner is reached once
        if not rs:
            continue
        # A slice at a time, taken off the end of rs (each object then held by its owners and
        # one list, as is_one expects): one list of a million records has a million
        # referents, and reading their counts in one go held the GIL 45-66 ms (3.11, 2026-12-03).
        pending = rs
        while pending:
            rs = pending[-_DISTINCT_SLICE:]
            del pending[-_DISTINCT_SLICE:]
            rc = list(_map(sys.getrefcount, rs))
            one = list(_it.compress(rs, _map(is_one, rc)))
            if one:
                if not cand_ids.isdisjoint(_map(id, one)):
                    within.update(cand_ids.intersection(_map(id, one)))
                if kinds is not None:
                    _tally(kinds, one)
                frontier.extend(one)
            _free_gently(one)
            several = list(_it.compress(rs, _map(base.__sub__, rc)))  # nonzero: not one owner (2.7 ints have no __ne__)
            if several:
                counts = [r for r in rc if r != base]
                # a slice at a time: its map of ids stays small (_free_gently says why); an object
                # met twice in two slices of one list counts as having an owner outside (rare)
                for j in range(0, len(several), _RETAINED_CHUNK):
                    if len(entries) >= st['entries']:
                        break  # the walk stops at the next check of its budget
                    _retained_several(st, unit, root, entries, queue, several[j:j + _RETAINED_CHUNK],
                                      counts[j:j + _RETAINED_CHUNK], kinds is not None, skip, rid, count, cand_ids)
                _free_gently(counts)
            _free_gently(several)
            _free_gently(rc)
            # Every object of rs is held elsewhere now (frontier, an entry, st['kept'], the list
            # of candidates): dropping rs cannot be the last reference to any of them.
            _free_gently(rs)
        kinds = None  # only the measured object's own referents are its items
    return True


def _retained_several(st, unit, root, entries, queue, objs, rcs, direct, skip, rid, count, cand_ids):
    """Note objs (referents of unit's part with several owners; rcs their counts), each
    distinct object once with how often it comes (a list of 2M None is one object here)."""
    k = {}
    if count is not None:
        count(k, _map(id, objs))
    else:
        for i in _map(id, objs):
            k[i] = k.get(i, 0) + 1
    first = dict(_zip(_map(id, objs), _zip(objs, rcs)))
    for i, n in k.items():
        c, r = first[i]
        e = entries.get(i, _NEW)
        if e is _NEW:
            if i == rid or i in skip or _is_type(c) or type(c) is _MOD_TYPE:
                entries[i] = _SKIP
                st['kept'].append(c)  # let go of at the end, through _release
                continue
            # r = owners + the references of this list of referents (n) + the call's own;
            # a candidate is held once more, by the list of candidates
            owners = r - n - (st['base'] - 2) - (1 if i in cand_ids else 0)
            e = entries[i] = [c, owners, 0, 0, 0, None, True, direct]
            queue.append(e)
        elif e is _SKIP:
            continue
        e[_E_INSIDE] += n
        if unit is not root:
            if unit[_E_TO] is None:
                unit[_E_TO] = []
            unit[_E_TO].append(e)  # (entry, references) flat: no pair objects
            unit[_E_TO].append(n)
    c = e = None
    first.clear()
    k.clear()


def _retained_state(room, tracked, seconds):
    """The run's budget: entries that fit in `room` bytes, objects visited at most (three per
    tracked object: a record dict, its str, int and slotted point with two ints), and time."""
    time = _module('time')
    raw = getattr(time, 'monotonic', time.time)  # (2.7: no monotonic)
    return {'base': _one_owner_refcount(),  # (heap.py: the same list-and-map shape as here)
            'skip': _gateway_ids(), 'visits': max(200000, 3 * tracked), 'kept': [],
            'entries': max(1000, min(_ENTRIES_MAX, room // _ENTRY_BYTES)), 'count': _count_elements_fn(),
            'clock': _budget_clock(raw), 'deadline': raw() + seconds}


# ------------------------------------------------------------------ candidates
#
# Which objects are measured: the census's largest by their own size, and the data
# that module globals and class attributes hold (where a leak's owner usually is: a
# module-level list or cache, a registry on a class), largest first.  Functions,
# classes, modules and descriptors are left out: they retain code and the interpreter
# keeps them.  At most _CANDIDATES objects are measured; what another candidate retains
# is reported within it, not on its own.

_CANDIDATES = 3000
_NOT_DATA = (_FUNC_TYPE, type(len), type(_a_cell.__get__(1)), _METHOD_DESCR, _WRAPPER_DESCR, _CLASSMETHOD_DESCR,
             _MEMBER_TYPE, type(_T_FLAGS), type(_a_cell.__code__), staticmethod, classmethod, property)


def _global_candidates(ignore, skip, mine):
    """[[own size, object, path]] for the data held by module globals and class attributes;
    the ids of those of the application's own modules added to the set `mine`."""
    out = []
    ids = set()
    not_data = set(_map(id, _NOT_DATA))
    library = _library_test()
    for name, m in list(_modules().items()):
        mname = _plain(name, 200)
        if mname is None or type(m) is not _MOD_TYPE:
            continue
        try:
            d = _MOD_DICT.__get__(m)
        except Exception:
            continue
        if type(d) is not dict or id(d) in ignore:
            continue
        first = len(out)
        # Iterated in place, not listed: a list of a module's items, freed at once, filled the
        # target's free list of 2-tuples (2,000 blocks that sys.getallocatedblocks() counts).
        # A module another thread changes meanwhile stops its iteration with RuntimeError.
        try:
            for k, v in d.items():
                k = _plain(k, 100)
                if k is None or id(v) in ids or id(v) in ignore:
                    continue
                if _is_type(v):
                    if _qualname(v)[0] != mname:
                        continue  # imported: listed where it is defined
                    # the class's own namespace, in place: not _tdict, whose cache of a
                    # (class, dict) pair per class, freed at the end, filled the free list
                    # of 2-tuples too (the proxy wraps an exact dict: no target code runs)
                    ns = _T_DICTPROXY.__get__(v)
                    if ns is None:  # a class whose tp_dict is NULL: None on 3.8 and 3.9 (a user's trial)
                        continue
                    for ak, av in ns.items():
                        ak = _plain(ak, 100)
                        if ak is not None and _data_candidate(av, ids, ignore, skip, not_data):
                            out.append([0, av, '%s.%s.%s' % (mname, k, ak)])
                            ids.add(id(av))
                elif _data_candidate(v, ids, ignore, skip, not_data):
                    out.append([0, v, '%s.%s' % (mname, k)])
                    ids.add(id(v))
        except RuntimeError:
            pass
        if mname == '__main__' or not library(dict.get(d, '__file__')):
            mine.update(id(e[1]) for e in out[first:])
    v = av = ns = None
    for e, s in _zip(out, _sizes([e[1] for e in out])):
        e[0] = s
    return out


def _data_candidate(v, ids, ignore, skip, not_data):
    # Untracked objects are atoms (str, int, bytes: the census's largest, if big), except an exact
    # dict whose keys and values are all atoms: CPython untracks it, however much it holds (a
    # module-level cache of 300 str keys to 35 KiB strs, 10 MB, went unmeasured: a user's trial).
    t = type(v)
    return ((t is dict or gc.is_tracked(v)) and id(t) not in not_data and t is not _MOD_TYPE and not _is_type(v)
            and id(v) not in ids and id(v) not in ignore and id(v) not in skip)


def _retained_largest(big, ignore, nlarge, room, tracked, seconds):
    """The nlarge objects that retain the most: [[own size, object, path or None, retained
    bytes, objects, complete, items, inside]], most first, where inside lists the entries
    [own size, object, path or None] of the census's largest objects that it retains, at
    most _INSIDE of them, largest first.  big: the census's [(size, object)]."""
    st = _retained_state(room, tracked, seconds)
    skip = st['skip']  # module dicts: kept by the interpreter, everything reachable through them
    cands = [[s, o, None] for s, o in big if id(o) not in skip and not _is_type(o) and type(o) is not _MOD_TYPE]
    s = o = None  # noqa: F841 (2.7: a list comprehension's variables outlive it, and o would hold one more)
    del big[:]  # each candidate is held once, by cands: _retained_several counts on it
    largest_ids = set(_map(id, (e[1] for e in cands)))
    by_id = dict((id(e[1]), e) for e in cands)
    mine = set()
    for e in _global_candidates(ignore, st['skip'], mine):
        known = by_id.get(id(e[1]))
        if known is None:
            cands.append(e)
            by_id[id(e[1])] = e
        else:
            known[2] = e[2]  # one of the largest, held by a global: its name
    e = known = None
    by_id.clear()
    # module globals and class attributes first, the application's own modules' before the others',
    # then the census's largest: what a global retains is measured once, and the objects within it
    # are not walked again
    cands.sort(key=lambda e: _global_then_size(e, mine), reverse=True)
    mine.clear()
    dropped = [e[1] for e in cands[_CANDIDATES:]]
    del cands[_CANDIDATES:]
    _release(dropped)
    ids = set(_map(id, (e[1] for e in cands)))
    st['skip'].update(ignore)
    measured = []
    inside = set()
    for e in cands:
        if id(e[1]) in inside:
            continue  # another candidate retains it
        if st['visits'] <= 0 or st['clock']() > st['deadline']:
            if id(e[1]) in largest_ids:  # one of the census's largest: listed, at its own size at least
                atom = not gc.is_tracked(e[1]) and not gc.get_referents(e[1])  # a str, bytes: that is all
                e.extend([e[0], 1, atom, None, set()])
                measured.append(e)
            continue
        r = _retained_walk(st, e[1], ids)
        within = r.pop()
        inside.update(within)
        e.extend(r)  # not a copy: a copy would hold the object once more
        e.append(within.intersection(largest_ids))
        measured.append(e)
    ranked = [e for e in measured if id(e[1]) not in inside]
    ranked.sort(key=_retained_of, reverse=True)
    out = ranked[:nlarge]
    by_id = dict((id(e[1]), e) for e in cands)
    for e in out:
        e[7] = sorted((by_id[i][:3] for i in e[7] if i in by_id), key=_first, reverse=True)[:_INSIDE]
    by_id.clear()
    held = [e[1] for e in cands]
    e = None
    del cands[:], measured[:], ranked[:]
    _release(held)
    _release(st['kept'])
    return out


# At most this many of the census's largest objects are named inside each listed one.
_INSIDE = 3


def _global_then_size(e, mine):
    # an int, not a (bool, bool, size) tuple: 3,000 tuples alive at once in the sort, freed together,
    # filled the target's free list of 2-tuples (blocks sys.getallocatedblocks() counts).
    # The application's own globals first: by own size, a 2-tuple retaining 4.7 MB came after ~770
    # of ~1,100 globals (the standard library's), and the time ran out before it in about one run
    # of 20 (test_heap.py's big_containers.py target, pyenv 3.11, 2026-12-07).  (Ranking by what
    # each refers to one level down instead walked numpy's globals first, and its time ran out
    # before the list that pinned 64 MB of arrays through views of 2 rows: numpy_views.py.)
    if e[2] is None:
        return e[0]
    return (1 << 62) + (1 << 61 if id(e[1]) in mine else 0) + e[0]


def _retained_of(e):
    # at least its own size, as the row says: a walk whose time ran out at its root retains 0 (a
    # 12 MB str measured last, after the globals, then ranked below sys.path_importer_cache: once
    # in a CI run, 3.12, found by a review's reading, 2026-12-07)
    return max(e[3], e[0])
