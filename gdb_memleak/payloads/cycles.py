# gdb-memleak payload: cyclic garbage finder (runs INSIDE the target).
#
# Python 2.7 and 3.6+ compatible source: no f-strings, no annotations, no
# `from __future__`.  Defines gdb_memleak_payload(args) -> JSON-able dict.
# Every other module-level name starts with "_".
#
# How the cycles are found WITHOUT gc.collect(): a collection (even with
# DEBUG_SAVEALL) runs __del__/tp_finalize of the unreachable objects, clears
# weakrefs to them and calls weakref callbacks: it changes the target.  So
# this payload repeats the collector's own reasoning in the target, read-only:
#   ext(o) = refcount(o) - references to o from tracked objects
# objects with ext > 0 are roots; whatever is not reachable from a root
# (through gc.get_referents) is exactly what a full collection would find
# unreachable.  Nothing is freed, finalised, moved or kept.  Objects already in
# gc.garbage (uncollectable: Python 2.7 cycles with __del__, legacy tp_del)
# are reported separately.
#
# Same rules as heap.py: no obj.__dict__/vars() (3.11+ would create the
# dict), no repr() of target objects, temporaries dropped, gc state restored,
# no target object let go of where its finalizers could run here (_hand_back).

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
                            _os.path.join(_dir, "_gdb_memleak_labels.py")):
                exec(compile(open(_helper).read(), _helper, "exec"))
            break


# labels, edges and attribute lookups: _short, _edge, _key_label ... in _gdb_memleak_labels.py


_MAX_STEPS = 24   # steps of a cycle path shown
_MAX_TYPES = 20   # type names listed per cycle group
_MAX_ROWS = 100   # kinds of uncollectable objects listed


# The maps of ids below are cut into shards, each for a range of ids: a dict grows by
# resizes that copy its whole table in one C call, and at 1M records (2M tracked objects)
# the last resize of one map of every object held the GIL 0.1-0.36 s (3.11, 2026-12-03).
# A shard holds about _SHARD_OBJECTS objects; a slice of ids is sorted, then cut at the
# shards' bounds (sorting 20,000 ids takes about 4 ms, their counting 1.4 ms).
_SHARD_OBJECTS = 1 << 16


def _shards(objs, count=None):
    """(bounds, [dict per shard]): bounds are ids cutting objs' ids into ranges of about
    _SHARD_OBJECTS objects each, read from a sample.  One shard, no bounds, below that.
    (objs: a list, or an iterable of `count` objects.)"""
    if count is None:
        count = len(objs)
    n = 1
    while n * _SHARD_OBJECTS < count:
        n <<= 1
    if n == 1:
        return [], [{}]
    stride = max(1, count // (n * 32))
    sample = sorted(_map(id, _it.islice(objs, 0, None, stride)))
    return [sample[len(sample) * k // n] for k in range(1, n)], [dict() for _ in range(n)]


def _cuts(bounds, keys):
    """[0, ..., len(keys)]: keys (sorted) of shard k are keys[c[k]:c[k + 1]]."""
    cuts = [0]
    lo = 0
    for b in bounds:  # a binary search per bound: about 1,000 steps per slice of 20,000
        hi = len(keys)
        while lo < hi:
            mid = (lo + hi) // 2
            if keys[mid] < b:
                lo = mid + 1
            else:
                hi = mid
        cuts.append(lo)
    cuts.append(len(keys))
    return cuts


def _by_shard(shards, fn, ids, objs=None):
    """fn(shard, its part of ids, its part of objs or None) for each shard of shards (from
    _shards) that has a part.  ids are sorted here, in place; with objs, whose ids they
    are in that order, objs are sorted in place by id first (key=id: no code of theirs
    runs) and ids made again from them."""
    bounds, maps = shards
    if not bounds:
        fn(maps[0], ids, objs)
        return
    if objs is not None:
        objs.sort(key=id)
        ids[:] = _map(id, objs)
    else:
        ids.sort()
    cuts = _cuts(bounds, ids)
    for k in range(len(maps)):
        a, b = cuts[k], cuts[k + 1]
        if a < b:
            fn(maps[k], ids[a:b], None if objs is None else objs[a:b])


# Slices of the heap, each one C call (get_referents, a map of ids...): at most _STEP_MAX objects,
# and at most a _STEP_SHARE-th of the heap.  At 20,000 on a small heap, one slice's referents and
# their ids were half of the peak: 1.3 of 2.6 MB on a 29 MB service of many modules (24,000
# tracked objects, 3.11, 2026-12-05), and the peak 13% of its RSS, over issue 13's 10%.
_STEP_MAX = 20000
_STEP_MIN = 500
_STEP_SHARE = 40


def _step_for(count):
    return max(_STEP_MIN, min(_STEP_MAX, count // _STEP_SHARE))


def _count_ids(objs, shards, step=_STEP_MAX, known_only=False):
    """Fill shards (from _shards) with {id(x): number of references to x from the tracked
    objects in objs} (only tracked referents are counted; with known_only, only those whose
    ids are keys of the shards already)."""
    m = _module('_collections')
    _count_elements = _MOD_DICT.__get__(m).get('_count_elements') if m is not None else None

    def count(cnt, ids, _):
        if known_only:
            ids = _filter(cnt.__contains__, ids)
        if _count_elements is not None:
            _count_elements(cnt, ids)
        else:
            for k in ids:
                cnt[k] = cnt.get(k, 0) + 1

    for i in range(0, len(objs), step):
        if _gdb_gone():  # (the caller looks again, and stops)
            break
        rs = gc.get_referents(*objs[i:i + step])
        # In slices of rs too: one list of a million records gives a million referents,
        # and counting them in one C call held the GIL for 0.3 s (3.11, 2026-12-03).
        for j in range(0, len(rs), step):
            _by_shard(shards, count, list(_map(id, _filter(gc.is_tracked, rs[j:j + step]))))
        _release_referents(rs)


# What finding the unreachable objects costs per object in its maps, at its peak: a dict
# entry and an int for its id (measured 100-120 bytes on 3.11, 2M objects).
_BYTES_PER_TRACKED = 128
# What it costs per tracked object left out of the maps (pruned, below): the snapshot's
# pointer and its byte of flags.
_BYTES_PER_PRUNED = 12
# What grouping the cycles costs for each object found in one, on top of the maps: its position, its
# successors, its Tarjan numbers (_sccs).  Measured 2026-12-05 (3.11): +84 MB at the peak for 330,000
# objects in cycles, about 255 bytes each with the map of candidates.
_BYTES_PER_MEMBER = 256
# And whatever the heap's size: the slices of objects and of their referents, the thread the
# payload runs in (its glibc arena; heap.py's _CENSUS_BYTES_FIXED says more).
_BYTES_FIXED = 6 << 20


# Pruning (3.x).  Most of a big heap is data: dicts and lists of strs and ints, instances
# holding them, lists of those.  An object whose tracked referents, classes aside, hold no
# tracked object but classes (a "leaf", or an object holding only leaves) is on no cycle and
# leads to none: a cycle through it would have to come back through a class, which is never
# pruned.  The first pass keeps pruned objects out of its maps (it still counts their
# references, so every count of an object in the maps is whole); what it finds
# unreachable is then closed over the objects those hold (_closed), exactly, by passes over
# the candidates alone.  On the benchmark's 1M records (2M tracked objects) the maps then hold
# the program's modules, classes and functions and the list of records (2026-12-03, 3.11).
# An object with more than _FANOUT referents is never pruned, nor one that holds such an
# object: their tests would be long C calls.  A class is told by its class's flags (type(x)
# and the __flags__ getter: isinstance(x, type) would look up x.__class__, running a
# proxy's __getattribute__ or property).  Each step below is a C call over a slice of at most
# about _TEST_REFERENTS referents (map, compress, accumulate: no bytecode runs between its
# objects, so nothing dies in it); lists of referents are let go of through
# _release_referents.
_FANOUT = 4096
_TEST_REFERENTS = 20000
_TYPE_SUBCLASS = 1 << 31  # Py_TPFLAGS_TYPE_SUBCLASS: set in the flags of type and its subclasses
_OPS = _module('_operator') or _module('operator')


def _tracked_referents(objs, tools):
    """(number of tracked referents of each of objs, all of those in that order)."""
    # (lists, not tuples: CPython keeps up to 2,000 freed tuples of each size for good, and the
    # target's allocated blocks grew by 7,700 after one py-cycles, and on after each: 2026-12-03, 3.11)
    lists = list(_map(list, _map(tools['tracked'], _map(gc.get_referents, objs))))
    counts = list(_map(len, lists))
    flat = list(_it.chain.from_iterable(lists))
    del lists[:]  # (flat holds what they held)
    return counts, flat


def _segments_any(bits, counts):
    """For consecutive segments of bits (lengths: counts), whether each has a true one."""
    acc = [0]
    acc.extend(_it.accumulate(bits))
    ends = list(_it.accumulate(counts))
    return list(_map(_OPS.lt, _map(acc.__getitem__, _map(_OPS.sub, ends, counts)), _map(acc.__getitem__, ends)))


def _runs(sizes):
    """Cut points [0, ..., len(sizes)] of runs of sizes of about _TEST_REFERENTS in total."""
    acc = list(_it.accumulate(sizes))
    if not acc or acc[-1] <= _TEST_REFERENTS:
        return [0, len(sizes)]
    return _cuts(range(_TEST_REFERENTS, acc[-1], _TEST_REFERENTS), acc)


def _pruning():
    """Whether objects are pruned: not on 2.7, nor in a target that froze objects with gc.freeze
    (they are in no snapshot, and the closing pass would take them for candidates)."""
    return not (_PY2 or _module('_functools') is None or not hasattr(_it, 'accumulate')
                or (hasattr(gc, 'get_freeze_count') and gc.get_freeze_count()))


def _pruned_flags(objs, step=2000):
    """bytearray, 1 for each object of objs that is pruned (above), 0 for the others; None
    where nothing is pruned (_pruning)."""
    if not _pruning():
        return None
    ft = _module('_functools')
    tools = {'type_bit': ft.partial(_OPS.and_, _TYPE_SUBCLASS), 'small': ft.partial(_OPS.ge, _FANOUT),
             'unsafe': set(_unsafe_to_traverse()), 'tracked': ft.partial(_filter, gc.is_tracked)}
    flags = bytearray(len(objs))
    for i in range(0, len(objs), step):
        if _gdb_gone():  # (the caller looks again, and stops)
            break
        chunk = objs[i:i + step]
        lens = list(_map(len, _map(gc.get_referents, chunk)))
        fits = list(_map(tools['small'], lens))
        some = list(_it.compress(chunk, fits))
        cuts = _runs(list(_it.compress(lens, fits)))
        pruned = []
        for k in range(len(cuts) - 1):
            if cuts[k] < cuts[k + 1]:
                pruned.extend(_pruned_of(some[cuts[k]:cuts[k + 1]], tools))
        if len(some) < len(chunk):
            rest = iter(pruned)
            pruned = [next(rest) if f else False for f in fits]
        flags[i:i + len(chunk)] = bytearray(pruned)
        del some[:], fits[:], pruned[:], chunk[:]  # (objs holds each of them)
    return flags


def _types(xs, tools):
    """Whether each of xs is a class: read from its class's flags, no attribute looked up."""
    return _map(tools['type_bit'], _map(_T_FLAGS.__get__, _map(type, xs)))


def _pruned_of(objs, tools):
    """[whether each of objs is pruned] (objs: each of _FANOUT referents at most)."""
    small, unsafe = tools['small'], tools['unsafe']
    counts, flat = _tracked_referents(objs, tools)
    # Whether each distinct one of those holds a tracked object but a class, or may (more than
    # _FANOUT referents, or one gc.get_referents must not be given: a stand-in says so).
    byid = dict(_zip(_map(id, flat), flat))
    distinct = list(byid.values())
    index = dict(_zip(byid, range(len(byid))))
    byid.clear()
    if unsafe:
        lens = [_FANOUT + 1 if id(o) in unsafe else len(gc.get_referents(o)) for o in distinct]
    else:
        lens = list(_map(len, _map(gc.get_referents, distinct)))
    standin = [[]]  # holds a tracked object
    tested = list(_map(_OPS.getitem, _zip(_it.repeat(standin), distinct), _map(small, lens)))  # (standin, o)[ok]
    del distinct[:]
    holds = []
    cuts = _runs(list(_map(min, lens, _it.repeat(_FANOUT + 1))))
    for k in range(len(cuts) - 1):
        if cuts[k] < cuts[k + 1]:
            counts2, flat2 = _tracked_referents(tested[cuts[k]:cuts[k + 1]], tools)
            holds.extend(_segments_any(list(_map(_NOT, _types(flat2, tools))), counts2))
            _release_referents(flat2)
    del tested[:]
    # a referent that is not a class and holds a tracked object but a class: the object is mixed
    bad = list(_map(_OPS.and_, _map(_NOT, _types(flat, tools)), _map(holds.__getitem__, _map(index.__getitem__, _map(id, flat)))))
    mixed = _segments_any(bad, counts)
    index.clear()
    _release_referents(flat)
    return list(_map(_NOT, _map(_OPS.or_, _types(objs, tools), mixed)))


def _popper(out):
    """fn for _by_shard: moves the objects of ids found in a shard ({id: obj}) to out."""
    is_not = _OPS.is_not

    def pop_found(shard, ids, _):
        popped = list(_map(shard.pop, ids, _it.repeat(None)))
        out.extend(_it.compress(popped, _map(is_not, popped, _it.repeat(None))))
        del popped[:]
    return pop_found


def _getter(out):
    """fn for _by_shard: appends each id's value in a shard ({id: count}), 0 if none, to out."""
    def get(shard, ids, _):
        out.extend(_map(shard.get, ids, _it.repeat(0)))
    return get


def _put(shard, ids, objs):
    shard.update(_zip(ids, objs))


def _unreachable(objs, ignore, prune=False, room=None, refused=None, tail=''):
    """Tracked objects (of objs, gc.get_objects(); emptied) that a full collection
    would find unreachable, as {id: obj}.  Read-only simulation of the collector
    (see header).  With prune, the pruned objects (above) are left out: what it returns
    is then to be closed (_closed).  room: the bytes available, None if unknown; when its
    maps would not fit there, None, and the refusal (ending with `tail`) appended to the list `refused`.
    (No exception class of its own: a class made by a payload would be cyclic garbage.)"""
    step = _step_for(len(objs))
    if ignore:
        # In place: a second list holding every object would add one to every
        # reference count, and everything would look referenced from outside.
        # Slice by slice, moved down over the ignored ones, the tail cut off at the end:
        # `objs[:] = a filtered copy` let go of the whole old list in one C call (45 ms at
        # 1M records, 3.11, 2026-12-03).  No loop or comprehension variable holds an object:
        # on 2.7 those outlive the loop, and the second pass's last candidate is often one
        # the target dropped meanwhile, whose __del__ then ran here.
        kept = 0
        for i in range(0, len(objs), step):
            part = objs[i:i + step]
            keep = list(_it.compress(part, _map(_NOT, _map(ignore.__contains__, _map(id, part)))))
            objs[kept:kept + len(keep)] = keep  # as long as what it replaces: nothing moves
            kept += len(keep)
            del part, keep
        del objs[kept:]  # what was moved down, and the ignored ones: few
    flags = _pruned_flags(objs) if prune else None
    if _gdb_gone():  # no one will read the answer (common: _gdb_gone); each pass here is a second or more
        _release(objs, True)
        return {}
    kept = len(objs) if flags is None else len(objs) - sum(flags)
    need = kept * _BYTES_PER_TRACKED + len(objs) * _BYTES_PER_PRUNED + _BYTES_FIXED
    if room is not None and need > room:
        refused.append({'refusal': {'code': 'no_room', 'reason': (
            'it would need about %d MiB in the target for its %d tracked objects (%d of them in '
            'its maps), and %d MiB %s' % (need >> 20, len(objs), kept, room >> 20, tail))}})
        return None
    # a byte per object, one for those kept in the maps
    in_maps = None if flags is None else bytearray(_map(_NOT, flags))
    del flags

    if in_maps is None:
        shards = _shards(objs)
    else:
        shards = _shards(_it.compress(objs, in_maps), kept)
    maps = shards[1]
    if in_maps is not None:  # the maps' keys first: only references to them are counted
        for i in range(0, len(objs), step):
            if _gdb_gone():  # (_count_ids stops too, and the look after it returns)
                break
            part = _kept_of(objs, in_maps, i, step)
            _by_shard(shards, _zeros, list(_map(id, part)))
            del part[:]
    _count_ids(objs, shards, step, known_only=in_maps is not None)
    if _gdb_gone():  # (the maps hold counts only, the snapshot every object)
        _release(objs, True)
        for m in maps:
            m.clear()
        return {}
    # calibrate the references held by this very computation
    probe = [[]]
    extra = list(_map(sys.getrefcount, probe))[0] - 1  # minus the probe list's own ref
    del probe
    # Chunk by chunk: lists as long as the heap would be big temporaries, and glibc
    # keeps such memory after they are freed (the target's RSS stays higher).
    base = 2 + extra   # objs list + chunk list + call overhead
    roots = []

    for i in range(0, len(objs), step):
        chunk = _kept_of(objs, in_maps, i, step)
        if shards[0]:
            chunk.sort(key=id)  # in place: only objs and chunk hold them (base)
        rc = list(_map(sys.getrefcount, chunk))
        ids = list(_map(id, chunk))
        inside = []  # references from tracked objects, in chunk's order (ids already sorted)
        _by_shard(shards, _getter(inside), ids)
        ext = _map(_OPS.sub, rc, inside)
        roots.extend(_it.compress(chunk, _map(_OPS.gt, ext, _it.repeat(base))))
        del chunk, rc, ids, inside, ext
    # The counting dicts become the {id: obj} maps: their keys (the ids of tracked objects
    # that something refers to) are most of the ones those maps need, and a second map
    # as big as the heap would double this command's peak (+320 MB at 2M objects).
    # Every C call over the whole heap is cut in slices of `step`: the target's other threads
    # get the GIL between two (at 1M records, one update held it 0.5 s; 3.11, 2026-12-03).
    for i in range(0, len(objs), step):
        part = _kept_of(objs, in_maps, i, step)
        _by_shard(shards, _put, list(_map(id, part)), part)
        del part
    # Every object kept is in the maps now: the snapshot's list can go (it is as long as the
    # heap), and the objects popped from them below are let go of through _release,
    # one frontier at a time (each object is popped once: the lists hold distinct ones).
    # The pruned ones are held by the snapshot alone: let go of through _release too.
    if in_maps is None:
        del objs[:]
    else:
        del in_maps
        _release(objs, True)
    del objs
    # Keys still holding a count are tracked objects outside objs (ours, ignored).
    # Objects never have type int: tracked objects are containers.
    for unvisited in maps:
        stale = []
        keys = iter(unvisited.keys())  # (the dict does not change meanwhile: only this thread has it)
        is_int = _map(_OPS.is_, _map(type, unvisited.values()), _it.repeat(int))
        for i in range(0, len(unvisited), step):
            stale.extend(_it.compress(_it.islice(keys, step), _it.islice(is_int, step)))
        del keys, is_int
        for k in stale:
            del unvisited[k]
        del stale
    dropped = []
    for i in range(0, len(roots), step):  # (no loop variable left holding a root when this returns)
        _by_shard(shards, _popper(dropped), list(_map(id, roots[i:i + step])))
        _free_gently(dropped)
    frontier = roots
    del roots
    while frontier:
        nxt = []
        pop_found = _popper(nxt)
        for i in range(0, len(frontier), step):
            if _gdb_gone():
                break
            rs = gc.get_referents(*frontier[i:i + step])
            # Popped straight out of the maps: no set of ids as long as rs, which for
            # one big list is as long as the heap.  Not found (or found twice): None.
            for j in range(0, len(rs), step):
                _by_shard(shards, pop_found, list(_map(id, rs[j:j + step])))
            _release_referents(rs)
        _release(frontier, True)
        frontier = nxt
        del nxt, pop_found
        if _GDB[2]:  # its gdb is gone: what is left goes back through the caller's _release_nodes
            _release(frontier, True)
    unvisited = maps[0]
    for m in maps[1:]:  # what is left: the garbage, and what moved meanwhile (few)
        unvisited.update(m)
        m.clear()
    return unvisited


def _kept_of(objs, in_maps, i, step):
    """objs[i:i + step], or the ones of them kept in the maps (in_maps: a byte per object)."""
    part = objs[i:i + step]
    if in_maps is None:
        return part
    some = list(_it.compress(part, in_maps[i:i + step]))
    del part[:]  # (objs holds them)
    return some


def _zeros(shard, ids, _):
    shard.update(_zip(ids, _it.repeat(0)))


def _closed(nodes, ignore, room=None, notes=None, step=_STEP_MAX):
    """nodes ({id: obj} from a pruned pass; emptied) with the pruned objects that only
    unreachable ones hold.  The tracked referents of nodes, the tracked referents of those,
    and so on through the pruned ones, are added to the candidates, and _unreachable is run
    over them all.  A pruned object that is garbage is held by garbage only, so it is among
    them, and so is everything that holds it; a pass is exact over its candidates (an object
    that something outside them holds is a root), so what a live pruned object holds (a
    class its instances keep) comes out reachable.  The first step adds every referent, not
    only the pruned ones: an object pruned in the first pass may test otherwise now (a live
    object it holds changed).  When the candidates would not fit in `room`, nodes are
    returned as they are and a note appended to `notes`."""
    frontier = list(nodes.values())
    tried = set(nodes)  # ids of the candidates so far: none added twice
    added = []
    for depth in range(4):  # two steps in theory (types are never pruned); a margin
        found = {}
        for i in range(0, len(frontier), step):
            rs = gc.get_referents(*frontier[i:i + step])
            for j in range(0, len(rs), step):  # (one candidate may be a list of a million)
                tr = list(_filter(gc.is_tracked, rs[j:j + step]))
                fresh = dict(_zip(_map(id, tr), tr))
                _free_gently(tr)  # (fresh and rs hold them)
                old = [fresh.pop(k) for k in [k for k in fresh if k in tried or k in ignore]]
                _free_gently(old)  # (rs holds them)
                tried.update(fresh)
                found.update(fresh)
                fresh.clear()
            _release_referents(rs)  # (found holds the ones kept)
        _free_gently(frontier)  # (nodes or added hold them)
        cand = list(found.values())
        found.clear()
        if depth == 0:
            frontier = list(cand)
        else:
            flags = _pruned_flags(cand) if cand else None
            frontier = list(_it.compress(cand, flags)) if flags is not None else []
            del flags
        added.extend(cand)
        _free_gently(cand)  # (added holds them)
        if not frontier:
            break
    _free_gently(frontier)
    tried.clear()
    if not added:
        return nodes
    need = (len(nodes) + len(added)) * _BYTES_PER_TRACKED
    if room is not None and need > room:
        _release(added, True)
        notes.append('the data the cycles hold is not counted (not checked, which also '
                     'leaves out a cycle that only its own data keeps, such as a class whose '
                     'instances its own attribute lists): that would need about %d MiB in the '
                     'target, and %d MiB are available' % (need >> 20, room >> 20))
        return nodes
    held = list(nodes.values())
    nodes.clear()
    held.extend(added)
    _free_gently(added)  # (held holds them)
    return _unreachable(held, ignore)


def _confirmed(nodes, ignore):
    """nodes ({id: obj}, emptied) less every object something outside them refers to, and
    what those reach: _unreachable once more, over the candidates alone.  The first pass
    read the heap while the target's other threads ran (they share the GIL at the switch
    interval, and a payload in a thread of its own shares it for the whole walk), so an
    object whose references moved meanwhile can look unreachable; garbage cannot move, so
    it passes again.  Each pass costs time in proportion to the candidates only."""
    held = list(nodes.values())
    nodes.clear()
    return _unreachable(held, ignore)


def _successors(nodes):
    """succ(id): the ids of the nodes ({id: obj}) that node refers to, read again when asked
    (garbage does not change): only the cycles' paths and graph ask, for a few of them."""
    def succ(k):
        return [i for i in _map(id, gc.get_referents(nodes[k])) if i in nodes]
    return succ


def _cyclic(comps, succ):
    """The components of comps (lists of ids) that hold a cycle: more than one node, or one
    that refers to itself."""
    return [c for c in comps if len(c) > 1 or c[0] in succ(c[0])]


def _sccs(nodes):
    """The strongly connected components of the graph restricted to nodes ({id: obj}) that hold
    a cycle, as lists of ids, and succ (_successors).  Iterative Tarjan over arrays of 8-byte
    ints indexed by position (the ids' only map is position by id): about 250 bytes a node with
    nodes itself, where dicts of the ids' successors, index and low numbers took about 550 and
    py-cycles peaked at +150 MB on a 45 MB target of 330,000 objects in cycles (a user's trial,
    2026-12-05).  2.7 has no memoryview.cast: the dicts there."""
    succ = _successors(nodes)
    if _PY2:
        return _cyclic(_sccs_dicts(nodes), succ), succ
    keys = list(nodes)
    n = len(keys)
    pos = dict(_zip(keys, range(n)))
    get = pos.get
    bufs = []
    starts = _ints(n + 1, bufs)
    m = 0
    for v in range(n):  # pass 1: how many successors each node has
        starts[v] = m
        m += len([w for w in _map(get, _map(id, gc.get_referents(nodes[keys[v]]))) if w is not None])
    starts[n] = m
    edges = _ints(m, bufs)
    p = 0
    for v in range(n):  # pass 2: which, in the slots pass 1 counted (a node of gc.garbage may have changed)
        end = starts[v + 1]  # (pass 1's: not moved yet)
        starts[v] = p
        for w in _map(get, _map(id, gc.get_referents(nodes[keys[v]]))):
            if w is not None and p < end:
                edges[p] = w
                p += 1
    starts[n] = p
    pos.clear()
    comps = _tarjan(n, starts, edges, bufs)
    out = []
    for c in comps:
        if len(c) > 1 or c[0] in edges[starts[c[0]]:starts[c[0] + 1]].tolist():
            out.append([keys[x] for x in c])
    _free_gently(comps)
    starts = edges = None
    _free_ints(bufs)
    _free_gently(keys)  # (nodes holds the ids)
    return out, succ


def _ints(n, bufs):
    """n 8-byte ints, all 0, as a list of them would be read and written; its buffer and view are
    added to bufs, for _free_ints."""
    buf = bytearray(8 * n)
    view = memoryview(buf).cast('q')
    bufs.append((buf, view))
    return view


def _free_ints(bufs):
    """Let go of _ints' buffers from their ends (_free_gently says why: one freed whole at its full size
    raised glibc's thresholds, and a second py-cycles left a 45 MB target 16 MB bigger for good)."""
    while bufs:
        buf, view = bufs.pop()
        view.release()
        while len(buf) > 8 * _GENTLE:
            del buf[-8 * _GENTLE:]
        del buf[:]


def _tarjan(n, starts, edges, bufs):
    """Tarjan's components of the graph of n nodes whose successors are edges[starts[v]:starts[v + 1]]
    (lists of positions).  A node's index and low numbers are kept plus one: 0 is a node not reached.
    Once the payload's gdb is gone, the components found so far."""
    index, low, onstack = _ints(n, bufs), _ints(n, bufs), bytearray(n)
    stack, sp = _ints(n, bufs), 0
    wv, wp, wsp = _ints(n, bufs), _ints(n, bufs), 0  # the walk's own stack: node, next edge
    counter = 1
    comps = []
    for root in range(n):
        if index[root]:
            continue
        if not root & 255 and _gdb_gone():  # what follows the grouping is bounded by --top: no look there
            break
        index[root] = low[root] = counter
        counter += 1
        stack[sp], sp, onstack[root] = root, sp + 1, 1
        wv[0], wp[0], wsp = root, starts[root], 1
        while wsp:
            v, p = wv[wsp - 1], wp[wsp - 1]
            if p < starts[v + 1]:
                w = edges[p]
                wp[wsp - 1] = p + 1
                if not index[w]:
                    index[w] = low[w] = counter
                    counter += 1
                    stack[sp], sp, onstack[w] = w, sp + 1, 1
                    wv[wsp], wp[wsp], wsp = w, starts[w], wsp + 1
                elif onstack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            wsp -= 1
            if low[v] == index[v]:
                comp = []
                while True:
                    sp -= 1
                    w = stack[sp]
                    onstack[w] = 0
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
            if wsp and low[v] < low[wv[wsp - 1]]:
                low[wv[wsp - 1]] = low[v]
    while len(onstack) > _GENTLE:
        del onstack[-_GENTLE:]
    return comps


def _sccs_dicts(nodes):
    """Strongly connected components of the graph restricted to nodes
    ({id: obj}), iterative Tarjan over dicts (2.7).  Returns a list of lists of ids."""
    succ = {}
    for k, o in nodes.items():
        succ[k] = [i for i in _map(id, gc.get_referents(o)) if i in nodes]
    index = {}
    low = {}
    onstack = set()
    stack = []
    comps = []
    counter = [0]
    for start in nodes:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            v, pi = work.pop()
            if pi == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                onstack.add(v)
            children = succ[v]
            recursed = False
            while pi < len(children):
                w = children[pi]
                pi += 1
                if w not in index:
                    work.append((v, pi))
                    work.append((w, 0))
                    recursed = True
                    break
                elif w in onstack:
                    if index[w] < low[v]:
                        low[v] = index[w]
            if recursed:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
    index.clear()
    low.clear()
    succ.clear()
    return comps


def _collapsed_members(comp, nodes):
    """ids of the component minus the instance __dict__s of its members."""
    instdicts = set()
    for k in comp:
        o = nodes[k]
        t = type(o)
        if _is_instance_like(t):
            d = _instance_dict(o, t, gc.get_referents(o))
            if d is not None:
                instdicts.add(id(d))
    return [k for k in comp if k not in instdicts], instdicts


def _cycle_path(comp, nodes, succ, instdicts, prefer):
    """A readable shortest cycle through the component."""
    cs = set(comp)
    best = None
    for k in comp:
        if k in instdicts:
            continue
        t = type(nodes[k])
        tn = _type_name(t)
        rank = (0 if (tn in prefer or _short_tname(t) in prefer) else 1,
                0 if _is_instance_like(t) else 1, tn)
        if best is None or rank < best[0]:
            best = (rank, k)
    start = best[1] if best is not None else comp[0]
    # BFS from start back to start inside the component
    prev = {}
    q = [start]
    found = False
    qi = 0
    while qi < len(q) and not found:
        v = q[qi]
        qi += 1
        for w in succ(v):
            if w not in cs:
                continue
            if w == start:
                prev[('end',)] = v
                found = True
                break
            if w not in prev:
                prev[w] = v
                q.append(w)
    if not found:
        return _short_tname(type(nodes[start]))
    chain = [start]
    v = prev[('end',)]
    while v != start:
        chain.append(v)
        v = prev[v]
    chain.append(start)
    chain.reverse()
    # chain: start ... start  (ids); a long ring is shown by its first steps
    more = max(0, len(chain) - 1 - _MAX_STEPS)
    objs = [nodes[k] for k in chain[:_MAX_STEPS + 1]]
    s = _short_tname(type(objs[0]))
    attrmode = False
    for p, c in _zip(objs, objs[1:]):
        kind, v = _edge(p, c)
        if kind == 'instdict':
            attrmode = True
            continue
        s += _step_text(kind, v, attrmode) or ''
        attrmode = False
        s += ' -> ' + _short_tname(type(c))
    del objs
    if more:
        s += ' -> ... (%d more steps back to %s)' % (more, _short_tname(type(nodes[start])))
    return s


def _safe_label(o):
    t = type(o)
    return _short_tname(t) + '\n' + _short(o, t)


def _dot_quote(s):
    return (s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n').replace('\0', '\\\\0'))


def _own_graph(reps, nodes, succ, depth):
    lines = ['digraph ObjectGraph {', '  node[shape=box, style=filled, fillcolor=white];']
    seen = set()
    for comp in reps:
        cs = set(comp)
        for k in comp[:60]:
            o = nodes[k]
            if k not in seen:
                seen.add(k)
                lines.append('  o%d[label="%s", fontcolor=red];' % (k, _dot_quote(_safe_label(o))))
            for w in succ(k):
                if w in cs:
                    lab = _step_label(*_edge(o, nodes[w]))
                    lines.append('  o%d -> o%d [label="%s"];' % (k, w, _dot_quote(lab)))
    lines.append('}')
    return '\n'.join(lines) + '\n'


def _module_shim(name, attrs):
    """A module object holding `attrs`: stands in for one of objgraph's modules.

    Not a class: a class statement builds a reference cycle, which would stay in
    the target as garbage (and be found by the next py-cycles)."""
    shim = _MOD_TYPE(name)
    _MOD_DICT.__get__(shim).update(attrs)
    return shim


def _gc_shim(expansions):
    # objgraph's `gc` while it runs: gc itself, except that collect() does nothing, and
    # get_referents (objgraph's edge_func: one call per object it walks out from) answers
    # nothing after `expansions` calls, so the graph stays bounded however many objects
    # it starts from (they come first: it walks breadth first).
    attrs = dict(_MOD_DICT.__get__(gc))
    attrs['collect'] = lambda *a, **k: 0
    left = [expansions]

    def get_referents(*objs):
        if left[0] <= 0:
            return []
        left[0] -= 1
        return gc.get_referents(*objs)
    attrs['get_referents'] = get_referents
    return _module_shim('gc', attrs)


def _og_typename(obj):
    return _short_tname(type(obj))


def _og_long_typename(obj):
    return _type_name(type(obj))


def _og_getattr(o, name, *default):
    # objgraph asks for obj.__class__ (and would get the target's property)
    if name == '__class__':
        return type(o)
    v = _plain_getattr(o, name)
    if v is _NOTFOUND:
        if default:
            return default[0]
        raise AttributeError(name)
    return v


def _og_hasattr(o, name):
    if _is_type(o):
        return _type_lookup(o, name) is not _NOTFOUND
    return _plain_getattr(o, name) is not _NOTFOUND


def _inspect_shim():
    # objgraph's inspect.ismodule(x) is isinstance(), which asks x.__class__
    return _module_shim('inspect', {'ismodule': lambda o: type(o) is _MOD_TYPE})


def _objgraph_dot(objgraph, objs, depth):
    if _PY2:
        try:
            from cStringIO import StringIO as _SIO
        except ImportError:
            from StringIO import StringIO as _SIO
    else:
        _SIO = _module('io').StringIO  # imported at start-up by every 3.x
    out = _SIO()
    saved = {}
    g = _MOD_DICT.__get__(objgraph)
    # objgraph 3.x calls into its objects through these names; each is swapped
    # for one that runs no target code, and put back afterwards.  getattr and
    # hasattr shadow the builtins for objgraph's module only.
    for name, repl in (('gc', _gc_shim(_GRAPH_EXPANSIONS)),
                       ('_safe_repr', lambda o: _short(o, type(o))),
                       ('_edge_label', _og_edge_label),
                       ('_short_typename', _og_typename),
                       ('_long_typename', _og_long_typename),
                       ('_get_obj_type', type),
                       ('inspect', _inspect_shim()),
                       ('getattr', _og_getattr),
                       ('hasattr', _og_hasattr)):
        saved[name] = g.get(name, _NOTFOUND)
        g[name] = repl
    # Modules' globals dicts (a function's __globals__, the builtins) are not walked: each
    # added tens of nodes unrelated to the cycle and made the picture unreadably wide.
    moddicts = set()
    for m in _modules().values():
        if type(m) is _MOD_TYPE:
            moddicts.add(id(_MOD_DICT.__get__(m)))
    m = None
    try:
        objgraph.show_refs(objs, max_depth=depth, output=out, too_many=10,
                           filter=lambda x: not _is_type(x) and type(x) is not _MOD_TYPE and id(x) not in moddicts)
    finally:
        for name, v in saved.items():
            if v is _NOTFOUND:
                g.pop(name, None)
            else:
                g[name] = v
    return out.getvalue()


def _og_edge_label(source, target, shortnames=True):
    try:
        lab = _step_label(*_edge(source, target))
    except Exception:
        return ''
    return ' [label="%s"]' % _dot_quote(lab) if lab else ''


def _cycle_groups(nodes, want, top):
    """The cycles among nodes ({id: obj}), grouped by shape, largest first, each of the
    first `top` with its path.  Returns (groups, succ: _successors, the ids of every node in a cycle)."""
    cyc, succ = _sccs(nodes)
    in_cycles = set(_it.chain.from_iterable(cyc))
    groups = {}
    prefer = set(want)
    names_of = {}  # id of a class -> (its name, its short name): looked up once per class
    for comp in cyc:
        members, instdicts = _collapsed_members(comp, nodes)
        named = []
        for t in _map(type, _map(nodes.__getitem__, members)):
            n = names_of.get(id(t))
            if n is None:
                n = names_of[id(t)] = (_type_name(t), _short_tname(t))
            named.append(n)
        if want and not any(n[0] in prefer or n[1] in prefer for n in named):
            continue
        shape = tuple(sorted(n[0] for n in named))
        g = groups.get(shape)
        if g is None:
            names = sorted(set(shape))
            if len(names) > _MAX_TYPES:
                names = names[:_MAX_TYPES] + ['... %d more types' % (len(names) - _MAX_TYPES)]
            g = groups[shape] = {'types': names, 'count': 0, 'objects': 0,
                                 'size': 0, '_rep': comp, '_inst': instdicts, '_ids': []}
        g['count'] += 1
        g['objects'] += len(comp)
        g['_ids'].extend(comp)
    _free_gently(cyc)
    names_of.clear()
    for g in groups.values():  # sized by group, a slice at a time: one call per cycle cost a second in 90,000
        ids = g.pop('_ids')
        for i in range(0, len(ids), _GENTLE):
            g['size'] += sum(_sizes([nodes[k] for k in ids[i:i + _GENTLE]]))
        _free_gently(ids)
    glist = sorted(groups.values(), key=lambda g: (-g['size'], g['types']))
    groups.clear()
    for g in glist[:top]:
        try:
            g['path'] = _cycle_path(g['_rep'], nodes, succ, g['_inst'], prefer)
        except Exception as e:
            g['path'] = '<path error: %s>' % _tname(type(e))
    return glist, succ, in_cycles


def _dropped_meanwhile(nodes, in_cycles, succ):
    """(count, size) of the nodes neither in a cycle nor reachable from one: objects the target let
    go of while the walk ran, held by the walk alone (refcounting frees them once it lets go; a
    global rebound every 0.5 s made 20,000 such tuples, counted as "only in cycles" before a trial
    found it, 2026-12-05).  in_cycles grows to the ids of every node the cycles hold."""
    todo = list(in_cycles)
    while todo:
        for j in succ(todo.pop()):
            if j not in in_cycles:
                in_cycles.add(j)
                todo.append(j)
    dropped = [nodes[k] for k in nodes if k not in in_cycles]
    size = 0
    for i in range(0, len(dropped), _GENTLE):
        size += sum(_sizes(dropped[i:i + _GENTLE]))
    count = len(dropped)
    _free_gently(dropped)  # (nodes holds them)
    return count, size


def _sizes_of(nodes, ids):
    """The sizes of the nodes ({id: obj}) of ids summed, a slice at a time (no list of every id: a
    heap of cyclic garbage has hundreds of thousands)."""
    total, at = 0, iter(ids)
    chunk = [nodes[k] for k in _it.islice(at, _GENTLE)]
    while chunk:
        total += sum(_sizes(chunk))
        del chunk[:]  # (nodes holds them)
        chunk = [nodes[k] for k in _it.islice(at, _GENTLE)]
    return total


def _no_room_to_group(args, count):
    """The refusal when grouping `count` objects found in cycles would not fit in the room (None
    with --force or when the room is unknown): the count alone, without its groups, would read as
    no cycle at all, and a mark of it as every group gone."""
    room = args.get('memory_available')
    need = count * _BYTES_PER_MEMBER
    if room is None or need <= room:
        return None
    return {'refusal': {'code': 'no_room', 'reason': 'grouping the %d objects it found in cycles would need about %d MiB '
                        'in the target, and %d MiB %s' % (count, need >> 20, room >> 20, _room_tail(args))}}


def _release_nodes(nodes):
    """Let go of nodes' objects ({id: obj}, emptied) through _release."""
    held = list(nodes.values())
    nodes.clear()
    _release(held, True)


def _total_size(nodes):
    """The sizes of nodes' objects ({id: obj}) summed, a slice at a time: no list of them all."""
    objs = list(nodes.values())
    total = 0
    for i in range(0, len(objs), _GENTLE):  # (lists under 128 KiB: _free_gently says why)
        total += sum(_sizes(objs[i:i + _GENTLE]))
    _free_gently(objs)  # (nodes holds them)
    return total


def _garbage_nodes(garbage):
    """{id: obj} of the objects in gc.garbage and the instance __dict__s they own.

    Python 2.7's collector lists only the objects with __del__ there (the
    seed's ObjectA and ObjectB), but their cycle runs through their __dict__s."""
    nodes = {}
    for o in garbage:
        nodes[id(o)] = o
    for o in garbage:
        t = type(o)
        if _is_instance_like(t):
            try:
                d = _instance_dict(o, t, gc.get_referents(o))
            except Exception:
                d = None
            if d is not None and id(d) not in nodes:
                nodes[id(d)] = d
    o = d = None
    return nodes


def _public(glist, top):
    return [{'types': g['types'], 'path': g['path'], 'count': g['count'],
             'objects': g['objects'], 'size': g['size']} for g in glist[:top]]


_GRAPH_MEMBERS = 20  # members of each of the top three cycles objgraph starts from
_GRAPH_EXPANSIONS = 333  # objects objgraph walks out from: as from 3 starting objects at --depth 3 before


def _graph(glist, nodes, succ, depth):
    """(dot source, note) of the top three cycle groups: objgraph's when importable."""
    reps = [g['_rep'] for g in glist[:3]]
    objgraph = _modules().get('objgraph')  # imported by the target already: nothing is added
    if type(objgraph) is not _MOD_TYPE and not __gdb_memleak_state__['gc_was']:
        # Importing objgraph into a target whose collector is off would leave there for good
        # what the import brings (on 3.11: 57 modules, +14,000 objects, +1.9 MiB) and the
        # cyclic garbage the standard library makes while it is imported (on 3.11+: the
        # classes enum's _convert_ and _simple_enum build and drop for signal's Signals,
        # Handlers and Sigmasks and ast's _Precedence: 4 cycles, 20 objects), which every
        # later py-cycles would find.  A module taken out again would be cyclic garbage too.
        return _own_graph(reps, nodes, succ, depth), (
            "the target's gc is off, and importing objgraph there would leave its modules and "
            "the cyclic garbage their import makes for good; graph built by gdb-memleak from "
            "the cycle members only")
    try:
        # Every member of each cycle (up to _GRAPH_MEMBERS) is a starting object: objgraph draws
        # them in red and walks --depth steps from each, so the ring is drawn whole however long
        # it is (from the first member alone, a ring longer than --depth stayed open).
        objs = [nodes[k] for c in reps for k in c[:_GRAPH_MEMBERS]]
        try:
            if type(objgraph) is not _MOD_TYPE:
                import objgraph
            return _objgraph_dot(objgraph, objs, depth), None
        finally:
            del objs[:]
    except ImportError as e:
        return _own_graph(reps, nodes, succ, depth), (
            'objgraph not importable in the target (%s); graph built by '
            'gdb-memleak from the cycle members only' % _exc_text(e))
    except Exception as e:
        return _own_graph(reps, nodes, succ, depth), (
            'objgraph failed (%s); graph built from the cycle members only' % _exc_text(e))


def gdb_memleak_payload(args):
    args = args or {}
    _gdb_is(args.get('tracer'), args.get('traps'))
    if _GDB[2]:
        return _GDB_GONE
    since = args.get('since')  # py-cycles --since NAME: the mark, read before counting
    since_mark = _mark_get(since['name']) if since else None
    if since and since_mark is None:
        return _no_mark(since['name'], since.get('prefix', ''))
    want = list(args.get('types') or [])
    top = int(args.get('top', 10))
    graph = bool(args.get('graph', False))
    depth = int(args.get('depth', 3))
    try:
        ignore = _own_ids()
        ignore.add(id(args))
        ignore.add(id(ignore))
        refusal = _no_room(args, _BYTES_PER_PRUNED, _BYTES_FIXED)
        if refusal is not None:
            return refusal
        objs = _snapshot()
        step = _step_for(len(objs))
        refused = []
        prune = _pruning()
        nodes = _unreachable(objs, ignore, prune=prune, room=args.get('memory_available'), refused=refused,
                             tail=_room_tail(args))
        if nodes is None:
            return refused[0]
        del objs
        if _gdb_gone():  # (the walk stopped: nodes holds what it had not reached)
            _release_nodes(nodes)
            return _GDB_GONE
        notes = []
        if prune:  # (without pruning, the first pass is whole)
            nodes = _closed(nodes, ignore, args.get('memory_available'), notes, step)
        # Twice: a thread switch may come between a pass's counting and its reading of the
        # reference counts, and a live object would have to move in both windows to pass.
        nodes = _confirmed(_confirmed(nodes, ignore), ignore)
        ignore.add(id(nodes))
        total_objects = len(nodes)
        total_size = _total_size(nodes)
        refusal = _no_room_to_group(args, total_objects)
        if refusal is not None:
            _release_nodes(nodes)
            return refusal
        glist, succ, in_cycles = _cycle_groups(nodes, want, top)
        if _GDB[2]:  # the grouping stopped part way: nothing of it may be stored as a mark (a review)
            glist = succ = None
            in_cycles.clear()
            _release_nodes(nodes)  # (nodes held every object the groups named: none dies before this)
            return _GDB_GONE
        # The rows count each cycle's members only, and --top of the groups: the total also counts
        # the groups not shown and the objects in no cycle that only cycles hold (their data).
        cycle_objects, cycle_size = len(in_cycles), _sizes_of(nodes, in_cycles)
        group_objects, group_size = sum(g['objects'] for g in glist), sum(g['size'] for g in glist)
        group_count = len(glist)
        dropped, dropped_size = _dropped_meanwhile(nodes, in_cycles, succ)
        in_cycles.clear()
        total_objects, total_size = total_objects - dropped, total_size - dropped_size
        # ---- uncollectable (already in gc.garbage: Python 2.7 cycles with
        # __del__, legacy tp_del, DEBUG_SAVEALL), and the cycles among them ----
        garbage = gc.garbage  # a module attribute: the target may have rebound it
        garbage = list.__getitem__(garbage, slice(None)) if issubclass(type(garbage), list) else []
        ucount = len(garbage)
        ukinds = {}
        for t in _map(type, garbage):
            k = _type_name(t)
            ukinds[k] = ukinds.get(k, 0) + 1
        t = None
        urows = sorted(({'kind': k, 'count': c} for k, c in ukinds.items()),
                       key=lambda r: (-r['count'], r['kind']))[:_MAX_ROWS]
        ukinds.clear()
        unodes = _garbage_nodes(garbage)
        _keep(garbage, True)  # the target may empty gc.garbage meanwhile
        del garbage
        refusal = _no_room_to_group(args, len(nodes) + len(unodes))  # (nodes still held, what was dropped too)
        if refusal is not None:
            _release_nodes(nodes)
            _release_nodes(unodes)
            return refusal
        usize = _total_size(unodes)
        uglist, usucc, _ = _cycle_groups(unodes, want, top)
        dot = None
        note = None
        if graph and glist:
            dot, note = _graph(glist, nodes, succ, depth)
        elif graph and uglist:
            dot, note = _graph(uglist, unodes, usucc, depth)
        out = _public(glist, top)
        uout = _public(uglist, top)
        for gl in (glist, uglist):
            for g in gl:
                g.clear()
            del gl[:]
        # What the target dropped while this ran is held by nodes alone (no outside
        # reference, reachable from none): let go of through _release, as the rest.
        _release_nodes(nodes)
        unodes.clear()
        succ = usucc = None
        doc = {'cycles': out, 'total_objects': total_objects, 'total_size': total_size,
               'groups': {'count': group_count, 'objects': group_objects, 'size': group_size},
               'in_cycles': {'objects': cycle_objects, 'size': cycle_size},
               'uncollectable': {'count': ucount, 'size': usize, 'rows': urows, 'cycles': uout},
               'graph': dot, 'graph_note': note, 'note': '; '.join(notes) or None}
        mark = args.get('mark')  # py-cycles --mark NAME: stored here, in the same safe point
        if mark:
            rows = [[g['path'], g['count'], g['size']] for g in out]
            doc['stored_mark'] = _mark_set(mark['name'], mark['time'], rows, sum(r[1] for r in rows), sum(r[2] for r in rows))
            del rows[:]
        if since_mark is not None:
            doc['since_mark'] = since_mark
        return doc
    finally:
        _clear_caches()
        _hand_back()
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
