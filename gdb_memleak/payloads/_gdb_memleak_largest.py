# gdb-memleak payload helper: py-heap --largest (runs INSIDE the target interpreter).
#
# Python 2.7 and 3.6+, standard library only; sent after _gdb_memleak_common.py and
# _gdb_memleak_retained.py, whose names it uses, and before heap.py, which calls _largest.
# It ranks the census's biggest objects by what each retains (_gdb_memleak_retained.py) and
# names the global, class attribute or referrer chain that keeps each alive.

# The census's largest objects that a module global or class attribute retains (the retained
# walk found them inside it) are named by a search forwards from that global: breadth first,
# level by level, a slice at a time, through the objects below it only.  The search backwards
# (_find_paths) costs one gc.get_referrers over the whole heap per level, each holding the
# GIL: 46-58 ms at 2M tracked objects (3.11, 2026-12-03); it is left for what this one does
# not find.  The levels hold at most _FORWARD_OBJECTS objects (8 bytes each in the target).
_FORWARD_OBJECTS = 1 << 20
_FORWARD_SEEN = 1 << 16  # objects of several owners met (a set of their ids), at most


def _forward_paths(holder, targets, skip, deadline, clock, maxdepth=8):
    """[[holder, ..., target] or None for each of targets]: the first chain of references
    found from holder to it, breadth first, through tracked objects that are not classes,
    modules or in skip (ids).  Stops at maxdepth, _FORWARD_OBJECTS, or the deadline."""
    index = dict((id(t), i) for i, t in enumerate(targets))  # (a generator: no variable outlives it)
    want = set(index)
    found = {}  # index of a target -> (k, a, b): one of levels[k][a:b] holds it
    base = _one_owner_refcount()
    seen = set([id(holder)])
    levels = [[holder]]
    origins = []  # origins[k]: [(position in levels[k + 1], a, b)]: from there on, from levels[k][a:b]
    held = 1
    while want and len(levels) <= maxdepth and held < _FORWARD_OBJECTS and clock() < deadline:
        cur = levels[-1]
        nxt = []
        came = []
        for a, b in _forward_units(cur):
            if not want or clock() > deadline or held + len(nxt) >= _FORWARD_OBJECTS:
                break  # (a level cut short: its objects are looked into no further)
            came.append((len(nxt), a, b))
            slices = _forward_slices(cur, a, b)
            for rs in slices:
                if not want.isdisjoint(_map(id, rs)):
                    for j in want.intersection(_map(id, rs)):
                        found[index[j]] = (len(levels) - 1, a, b)
                        want.discard(j)
                if want:
                    _forward_add(rs, nxt, seen, skip, base)
                _release_referents(rs)
                if not want or held + len(nxt) >= _FORWARD_OBJECTS:
                    break
            slices.close()  # (what it had not handed out yet is let go of there)
            del slices
        levels.append(nxt)
        origins.append(came)
        held += len(nxt)
        del nxt, came
    seen.clear()
    chains = [None] * len(targets)
    for i, where in found.items():
        k, a, b = where
        chain = [targets[i]]
        while True:
            pos = _holder_pos(levels[k], a, b, chain[-1])
            if pos is None:
                chain = None  # it moved meanwhile
                break
            chain.append(levels[k][pos])
            if k == 0:
                break
            a, b = _origin(origins[k - 1], pos)
            k -= 1
        if chain is not None:
            chain.reverse()
            chains[i] = chain
        chain = None
    for lvl in levels:
        _release(lvl, True)
    del levels[:]
    return chains


def _forward_units(cur):
    """[(a, b)]: the ranges of cur whose referents are looked at together: runs of at most
    _RETAINED_CHUNK objects, then each exact list, tuple or dict of more than
    _DISTINCT_SLICE items alone (sliced by _forward_slices), last: a target beside a big
    container is met before the big container's items are all gone through."""
    exact = list(_map(_BIG_KINDS.__contains__, _map(id, _map(type, cur))))
    at = list(_it.compress(_it.count(), exact))
    # len of exact lists, tuples and dicts only: no code of the target's runs
    big = list(_it.compress(at, _map(_LT, _it.repeat(_DISTINCT_SLICE), _map(len, _it.compress(cur, exact)))))
    del exact[:], at[:]
    units = []
    a = 0
    for stop in big + [len(cur)]:
        for i in range(a, stop, _RETAINED_CHUNK):
            units.append((i, min(stop, i + _RETAINED_CHUNK)))
        a = stop + 1
    units.extend((i, i + 1) for i in big)
    return units


_BIG_KINDS = frozenset(_map(id, (list, tuple, dict)))
_LT = (_module('_operator') or _module('operator')).lt  # (2.7 ints have no __lt__)
_DICT_VALUES = dict.itervalues if _PY2 else dict.values


def _forward_slices(cur, a, b):
    """The referents of cur[a:b], a list of at most _DISTINCT_SLICE at a time (each to be let
    go of through _release_referents); a big container's items are read a slice at a time
    (its values for a dict: a str key is no referent of it on 3.x)."""
    o = cur[a] if b == a + 1 else None
    t = type(o)
    if o is not None and id(t) in _BIG_KINDS and len(o) > _DISTINCT_SLICE:
        try:
            if t is dict:
                values = _DICT_VALUES(o)
                it = iter(values)
                while True:
                    try:
                        part = list(_it.islice(it, _DISTINCT_SLICE))
                    except RuntimeError:  # another thread changed it meanwhile: the rest is not read
                        part = []
                    if not part:
                        break
                    yield part
            else:
                for j in range(0, len(o), _DISTINCT_SLICE):
                    yield o[j:j + _DISTINCT_SLICE]
        finally:
            o = values = it = None
        return
    o = None
    pending = gc.get_referents(*cur[a:b])
    try:
        while pending:
            rs = pending[-_DISTINCT_SLICE:]  # taken off pending: held by their owners and rs
            del pending[-_DISTINCT_SLICE:]
            yield rs
    finally:
        _release_referents(pending)


def _forward_add(rs, nxt, seen, skip, base):
    """Append to nxt the tracked objects of rs to look into next: not classes, modules or
    in skip, and an object of several owners only the first time it is met."""
    tracked = list(_filter(gc.is_tracked, rs))
    rc = list(_map(sys.getrefcount, tracked))  # held by rs and tracked too: base + 1 for one owner
    for o, r in _zip(tracked, rc):
        if _is_type(o) or type(o) is _MOD_TYPE or id(o) in skip:
            continue
        if r != base + 1:  # several owners: met once at most
            if id(o) in seen or len(seen) >= _FORWARD_SEEN:
                continue
            seen.add(id(o))
        nxt.append(o)
    o = None
    _free_gently(rc)
    _release(tracked, True)


def _holder_pos(level, a, b, x):
    """The position in level[a:b] of an object that refers to x, or None."""
    if b == a + 1:
        return a  # (found among its referents: the step is named by _edge)
    xid = set([id(x)])
    for p in range(a, b):
        rs = gc.get_referents(level[p])
        hit = not xid.isdisjoint(_map(id, rs))
        _release_referents(rs)
        if hit:
            return p
    return None


def _origin(came, pos):
    """(a, b) of the entry of came (sorted by position) that pos falls in."""
    lo, hi = 0, len(came) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if came[mid][0] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return came[lo][1], came[lo][2]


# gc.get_referrers(*objs) compares every reference in the heap with each of objs in turn: one
# call with the frontier of 1,000 targets (--largest 1000, up to 300 nodes each) held the GIL
# for minutes on a 5,000-dict target, and --largest 80 took 150 s (a helper's trial,
# 2026-12-05).  So a level's frontier is at most _BACKWARD_FRONTIER objects in all, asked
# about _REFERRERS_ARGS at a time (each call about one scan of the heap), within a deadline.
_BACKWARD_FRONTIER = 64
_REFERRERS_ARGS = 8


def _referrers(fl, ignore):
    """gc.get_referrers of fl's objects, _REFERRERS_ARGS at a time, in one list (a referrer of
    two slices' objects comes twice).  Each slice is a list that refers to its objects while the
    next slices are asked about: it is emptied, and ignored (the list returned holds it)."""
    out = []
    ignore.add(id(out))
    for i in range(0, len(fl), _REFERRERS_ARGS):
        part = fl[i:i + _REFERRERS_ARGS]
        ignore.add(id(part))
        found = gc.get_referrers(*part)
        del part[:]
        out.extend(found)
        del found[:]
    return out


def _find_paths(targets, ignore, deadline, clock, maxdepth=8):
    """Backward BFS from each target with gc.get_referrers (a few heap scans per level for
    all targets together), until `deadline` (clock()).  Returns a list of path strings/None."""
    roots = {}
    for name, m in list(_modules().items()):
        name = _plain(name, 200)
        if type(m) is _MOD_TYPE and name is not None:
            try:
                roots[id(_MOD_DICT.__get__(m))] = name
                roots[id(m)] = name
            except Exception:
                pass
    codes = _own_codes()
    # A running frame is a root ("<f() local>"); a finished one is not: something keeps it
    # (a traceback kept in a list of errors), and the path goes on to that.
    walked = _all_running_frames()
    running = set(_map(id, walked))
    n = len(targets)
    parent = [dict() for _ in range(n)]   # id(node) -> (node, id(child)) per target
    found = [None] * n
    frontier = {}                          # id(node) -> (node, [target idx])
    for i, t in enumerate(targets):
        parent[i][id(t)] = (t, None)
        if id(t) in roots or _is_type(t):
            found[i] = id(t)
        elif len(frontier) < _BACKWARD_FRONTIER:  # (the first ones: most retained first)
            frontier.setdefault(id(t), [t, []])[1].append(i)
    ignore = set(ignore)
    for v in (roots, parent, found, frontier, targets, codes, running, walked):
        ignore.add(id(v))
    ignore.update(_map(id, parent))
    depth = 0
    while frontier and depth < maxdepth and clock() < deadline:
        depth += 1
        fl = [v[0] for v in frontier.values()]
        ignore.add(id(fl))
        refs = _referrers(fl, ignore)
        ignore.add(id(sys._getframe()))
        nxt = {}
        for r in refs:
            if id(r) in ignore or r is frontier:
                continue
            tr = type(r)
            if tr is _FRAME_TYPE and id(r.f_code) in codes:
                continue
            if tr is list and len(r) == 2 and r[1] is not None and type(r[1]) is list and id(r[1]) in ignore:
                continue
            rr = gc.get_referents(r)
            for c in rr:
                ent = frontier.get(id(c))
                if ent is None:
                    continue
                for ti in ent[1]:
                    if found[ti] is not None or id(r) in parent[ti]:
                        continue
                    parent[ti][id(r)] = (r, id(c))
                    if id(r) in roots or issubclass(tr, type) or (tr is _FRAME_TYPE and id(r) in running):
                        found[ti] = id(r)
                        continue
                    e = nxt.get(id(r))
                    if e is None:
                        e = nxt[id(r)] = [r, []]
                        ignore.add(id(e))
                        ignore.add(id(e[1]))
                    if len(nxt) <= _BACKWARD_FRONTIER:
                        e[1].append(ti)
            c = None
            _release_referents(rr)
        r = rr = None
        del fl
        _release(refs)  # (not distinct: see _referrers)
        del refs
        frontier.clear()
        frontier = dict((k, v) for k, v in nxt.items() if v[1] and None in [found[i] for i in v[1]])
        ignore.add(id(frontier))
        nxt.clear()
        if all(f is not None for f in found):
            break
    out = []
    for ti in range(n):
        if found[ti] is None:
            out.append(None)
            continue
        chain = []
        cur = found[ti]
        while cur is not None:
            node, child = parent[ti][cur]
            chain.append(node)
            cur = child
        try:
            out.append(_render(chain, roots))
        except Exception as e:
            out.append('<path error: %s>' % _tname(type(e)))
        del chain
    frontier.clear()
    nodes = list(v[0] for p in parent for v in p.values())
    for p in parent:
        p.clear()
    _release(nodes)
    _release(walked)
    return out


def _render(chain, roots):
    root = chain[0]
    tr = type(root)
    if id(root) in roots:
        s = roots[id(root)]
        attrmode = True
        if type(root) is dict and len(chain) == 1:
            s = "sys.modules[%r].__dict__" % s
    elif issubclass(tr, type):
        mod, name = _qualname(root)
        s = (mod + '.' if mod else '') + name
        attrmode = False
    elif tr is _FRAME_TYPE:
        s = "<%s() local>" % (_plain(root.f_code.co_name, 100) or '?')
        attrmode = False
    else:
        s = '<%s>' % _type_name(tr)
        attrmode = False
    return _with_steps(s, chain, attrmode)


def _with_steps(s, chain, attrmode):
    """s, the name of chain[0], followed by the steps of chain, a chain of references."""
    root = chain[0]
    for p, c in _zip(chain, chain[1:]):
        kind, v = _edge(p, c)
        if kind == 'instdict':
            attrmode = True
            continue
        step = _step_text(kind, v, attrmode)
        if step is not None:
            s += step
        elif kind == 'frame':
            if p is not root:  # a finished frame something keeps (a traceback): its locals
                s += ' -> <%s() local>' % (_plain(p.f_code.co_name, 100) or '?')
        else:
            s += ' -> <%s>' % (v or '?')
        attrmode = False
    return s


# The retained walk's time: half the census's, at least 0.5 s.  A longer payload leaves a
# busy target bigger: ten py-heap --largest 2 of 2.2 s each left a 65 MB service 2.2 MB
# bigger, against 0.2 MB at 0.65 s; a payload made 1.5 s longer by a sleep alone did the
# same (+1.0 MB; 2026-12-02, 3.11, cause not found).  At least 0.25 s was too little on a
# slower machine: the walk of a 2,361-request log and a 50,000-key session table (the test
# target audit_log.py) took 0.25-0.34 s there, and stopped short of the table's keys in
# 3 runs of 4 (2026-12-03, in-process, 3.11).
_WALK_SHARE = 0.5
_WALK_SECONDS_MIN = 0.5


def _named_from_their_global(ranked, ignore, seconds):
    """Name the census's largest objects inside each ranked global (r[7]) by a search
    forwards from that global (_forward_paths), within `seconds` in all."""
    time = _module('time')
    raw = getattr(time, 'monotonic', time.time)
    clock, deadline = _budget_clock(raw), raw() + seconds
    skip = _gateway_ids()
    skip.update(ignore)
    for r in ranked:
        todo = [e for e in r[7] if e[2] is None]
        if r[2] is None or not todo:
            continue
        targets = [e[1] for e in todo]
        for e, chain in _zip(todo, _forward_paths(r[1], targets, skip, deadline, clock)):
            if chain is not None:
                try:
                    e[2] = _with_steps(r[2], chain, False)
                except Exception as x:
                    e[2] = '%s -> <path error: %s>' % (r[2], _tname(type(x)))
            del chain
        e = None
        del targets[:], todo[:]
    r = None
    skip.clear()


def _held_by_nothing_else(objs, payload_refs):
    """ids of the objects of objs (a list of the payload's own, emptied here) that only the
    payload holds: their reference count is the payload's, payload_refs(id) besides objs.
    Read beside the target, an object py-heap found no path to may be one the target let go
    of meanwhile (a global rebound to a new str each millisecond); one that something else
    holds (C state, a holder the collector does not track) is not."""
    ids = list(_map(id, objs))
    ids.reverse()  # (_sole_pipes pops from the end)
    counts = []
    list(_it.compress(*_sole_pipes(objs, counts.append)))
    sole = _sole_count()
    extra = dict((i, n - sole - payload_refs(i)) for i, n in _zip(ids, counts))
    more = set(i for i in ids if extra[i] > 0)
    if more:
        # A holder the target dropped while the census held it is the payload's now (in
        # _ORPHANS, to die in a thread of its own), and so are its references: a list that a
        # global was rebound from held the str 3 times in 8 (3.11).
        for part in _slices(_ORPHANS):
            for i in _filter(more.__contains__, _map(id, part)):
                extra[i] -= 1  # itself
            hit = list(_it.compress(part, _map(_NOT, _map(more.isdisjoint, _map(
                _map, _it.repeat(id), _map(gc.get_referents, part))))))
            del part[:]
            for i in _it.chain.from_iterable(_map(_map, _it.repeat(id), _map(gc.get_referents, hit))):
                if i in more:
                    extra[i] -= 1
            del hit[:]
    return set(i for i in ids if extra[i] == 0)


def _slices(objs):
    """Copies of objs' slices of _DISTINCT_SLICE, one at a time (the caller empties each)."""
    for start in range(0, len(objs), _DISTINCT_SLICE):
        yield objs[start:start + _DISTINCT_SLICE]


_ORPHANS_WAIT = 0.05


def _largest(big, ignore, nlarge, args, tracked, seconds):
    """The nlarge objects that retain the most, with the name that keeps each alive."""
    # what the census's guard let it use, used again now that the census has let go of it
    room = tracked * _CENSUS_BYTES_PER_TRACKED + _CENSUS_BYTES_FIXED
    if args.get('memory_available') is not None:
        room = min(room, args['memory_available'] // 2)
    # the census is done with what it held to the end (untracked objects that can run code
    # when they die: bytearrays, extension objects); held on, each would seem to have an
    # owner outside every retained set.  Its snapshot list is empty by now.
    _release_kept()
    _hand_back_now(_ORPHANS_WAIT)  # what the payload alone holds is no owner of anything measured
    ranked = _retained_largest(big, ignore, nlarge, room, tracked, seconds)
    del big[:]
    inner = [e for r in ranked for e in r[7]]
    objs = [r[1] for r in ranked] + [e[1] for e in inner]
    for v in (objs, ranked, inner):
        ignore.add(id(v))
    _named_from_their_global(ranked, ignore, seconds)
    occurs = {}
    for i in _map(id, objs):
        occurs[i] = occurs.get(i, 0) + 1
    # (each of objs' references is also one of ranked's or inner's: two the payload holds)
    unowned = _held_by_nothing_else([r[1] for r in ranked if r[2] is None], lambda i: 2 * occurs[i])
    occurs.clear()
    pathless = [e for e in ranked + inner if e[2] is None]
    unknown = [e[1] for e in pathless]
    for v in (pathless, unknown):
        ignore.add(id(v))
    time = _module('time')
    raw = getattr(time, 'monotonic', time.time)  # (2.7: no monotonic)
    found = _find_paths(unknown, ignore, raw() + max(_WALK_SECONDS_MIN, seconds), _budget_clock(raw)) if unknown else []
    for e, p in _zip(pathless, found):
        e[2] = p
    for r in ranked:
        for e in r[7]:
            if e[2] is None and r[2] is not None:
                # reached by the walk through what the path search cannot follow back (an
                # untracked holder: a numpy view holding its base): named after its owner
                e[2] = r[2] + ' -> <inside>'
    r = e = None
    del unknown[:], pathless[:]
    out = []
    for r in ranked:
        o = r[1]
        t = type(o)
        row = {'type': _type_name(t), 'size': r[0], 'repr': _short(o, t),
               'path': r[2], 'retained': max(r[3], r[0]), 'retained_objects': r[4], 'retained_complete': r[5],
               'items': {'kind': r[6][0], 'count': r[6][1]} if r[6] else None, 'inside': [],
               'unowned': r[2] is None and id(o) in unowned}
        for e in r[7]:
            o = e[1]
            t = type(o)
            row['inside'].append({'type': _type_name(t), 'size': e[0], 'repr': _short(o, t), 'path': e[2]})
            e[1] = None
        out.append(row)
        r[1] = None
    o = t = r = e = None
    del ranked[:], inner[:]
    _release(objs)
    return out
