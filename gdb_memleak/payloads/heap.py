# gdb-memleak payload: heap census (runs INSIDE the target interpreter).
#
# Python 2.7 and 3.6+ compatible source: no f-strings, no annotations, no
# `from __future__`.  Defines gdb_memleak_payload(args) -> JSON-able dict.
# Every other module-level name starts with "_" (under pyrasite this file is
# exec'd in the target's __main__).
#
# Rules followed here (the target is someone's production process):
#  * automatic gc is paused during the run and restored; gc.collect() is never
#    called (guppy's own calls are neutralised while it runs);
#  * instance __dict__s are never read through obj.__dict__ / vars() (that
#    creates them on 3.11+); owners are found with gc.get_referents and
#    member descriptors;
#  * repr() is never called on a target object; labels are built from type
#    names, lengths and slices of builtin str/bytes;
#  * every temporary list/dict is dropped before returning; modules this
#    payload imported that were not imported before are unregistered again.

try:
    _gdbml_had  # defined by _gdb_memleak_common.py, which the injector sends ahead of this file
except NameError:  # run on its own (python FILE, or pyrasite, which puts this folder first on sys.path)
    import os as _os
    import sys as _sys
    for _dir in _sys.path[:1] + [_os.path.dirname(_os.path.abspath(globals().get("__file__", ".")))]:
        _common = _os.path.join(_dir, "_gdb_memleak_common.py")
        if _os.path.isfile(_common):
            exec(compile(open(_common).read(), _common, "exec"))
            break


def _collect(ignore):
    """All GC-tracked objects plus the untracked objects reachable from them
    through untracked containers.  Returns (objs, n_tracked)."""
    objs = gc.get_objects()
    if ignore:
        objs = [o for o in objs if id(o) not in ignore]
    extra = {}
    step = 20000
    n = len(objs)
    for i in range(0, n, step):
        rs = gc.get_referents(*objs[i:i + step])
        un = list(_filterfalse(gc.is_tracked, rs))
        extra.update(_zip(_map(id, un), un))
        del rs, un
    frontier = [o for o in extra.values() if type(o) is tuple or type(o) is dict]
    while frontier:
        new = []
        for i in range(0, len(frontier), step):
            rs = gc.get_referents(*frontier[i:i + step])
            for o in _filterfalse(gc.is_tracked, rs):
                if id(o) not in extra:
                    extra[id(o)] = o
                    if type(o) is tuple or type(o) is dict:
                        new.append(o)
            del rs
        frontier = new
    for k in ignore:
        extra.pop(k, None)
    objs.extend(extra.values())
    extra.clear()
    return objs, n


def _census(objs, ntracked, top):
    names = _kind_names()
    tl = list(_map(type, objs))
    # classes by id: a class's hash and == can be its metaclass's code
    distinct = dict(_zip(_map(id, tl), tl))
    sizes = _sizes(objs, tl)
    # ---- owners of dicts ----
    dictkind = {}
    mtset = set(k for k, t in distinct.items() if _is_instance_like(t))
    tnames = {}
    for k, t in distinct.items():
        tnames[k] = _type_name(t, names)
    # one pass picks out the few objects that can own a dict: modules,
    # classes, functions and instances of classes (grouped per class)
    metas = set(k for k, t in distinct.items() if issubclass(t, type))
    special = set(mtset)
    special.update(metas)
    special.add(id(_MOD_TYPE))
    special.add(id(_FUNC_TYPE))
    groups = {}
    for o, t in _zip(objs, tl):
        k = id(t)
        if k in special:
            g = groups.get(k)
            if g is None:
                g = groups[k] = []
            g.append(o)
    for o in groups.pop(id(_MOD_TYPE), ()):
        try:
            dictkind[id(_MOD_DICT.__get__(o))] = 'dict of module'
        except Exception:
            pass
    for k in metas:
        for o in groups.get(k, ()):
            try:
                for r in gc.get_referents(_T_DICTPROXY.__get__(o)):
                    if type(r) is dict:
                        dictkind[id(r)] = 'dict of ' + tnames.get(k, 'type')
            except Exception:
                pass
        if k not in mtset:
            groups.pop(k, None)
    funcs = groups.pop(id(_FUNC_TYPE), [])
    # instances: most classes need no per-instance work (3.11+: no dict
    # referent at all; <=3.10 without slots: every dict referent is the
    # instance dict)
    old = sys.version_info < (3, 11)
    for tk, insts in groups.items():
        t = distinct[tk]
        kn = 'dict of ' + tnames[tk]
        ds = []
        for i in range(0, len(insts), 20000):
            rs = gc.get_referents(*insts[i:i + 20000])
            ds.extend([r for r in rs if type(r) is dict])
            del rs
        if not ds:
            continue
        if old and not _slot_descrs(t):
            for d in ds:
                dictkind.setdefault(id(d), kn)
            continue
        del ds
        for o in insts:
            d = _instance_dict(o, t, gc.get_referents(o))
            if d is not None:
                dictkind.setdefault(id(d), kn)
    groups.clear()
    del groups
    # function __dict__ (rare): dict referent whose first key resolves
    for o in funcs:
        for r in gc.get_referents(o):
            if type(r) is dict and id(r) not in dictkind and r:
                k = next(iter(r))
                if type(k) is str and _plain_getattr(o, k) is r[k]:
                    dictkind[id(r)] = 'dict of function'
    del funcs
    # ---- aggregate ----
    acc = {}
    for o, t, s in _zip(objs, tl, sizes):
        if t is dict:
            k = dictkind.get(id(o), 'dict (no owner)')
        else:
            k = tnames[id(t)]
        a = acc.get(k)
        if a is None:
            acc[k] = [1, s]
        else:
            a[0] += 1
            a[1] += s
    del tl
    distinct.clear()
    dictkind.clear()
    rows = sorted(([v[1], v[0], k] for k, v in acc.items()), reverse=True)
    acc.clear()
    total_size = sum(sizes)
    out = {
        'total_count': len(objs),
        'total_size': total_size,
        'rows': [{'kind': k, 'count': c, 'size': s} for s, c, k in rows[:top]],
        'more_rows': max(0, len(rows) - top),
    }
    del rows
    return out, sizes


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
    for o in gc.get_objects():
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
    from guppy import hpy
    real_collect = gc.collect
    gc.collect = lambda *a, **k: 0
    try:
        h = hpy()
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
        del part, row, heap, h
    finally:
        gc.collect = real_collect
    return out


# labels, edges and attribute lookups: _short, _edge, _key_label ... in _gdb_memleak_common.py


def _find_paths(targets, ignore, maxdepth=8, cap=300):
    """Backward BFS from each target with gc.get_referrers (one heap scan per
    level for all targets together).  Returns a list of path strings/None."""
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
    n = len(targets)
    parent = [dict() for _ in range(n)]   # id(node) -> (node, id(child)) per target
    found = [None] * n
    frontier = {}                          # id(node) -> (node, [target idx])
    for i, t in enumerate(targets):
        parent[i][id(t)] = (t, None)
        if id(t) in roots or _is_type(t):
            found[i] = id(t)
        else:
            frontier.setdefault(id(t), [t, []])[1].append(i)
    ignore = set(ignore)
    for v in (roots, parent, found, frontier, targets, codes):
        ignore.add(id(v))
    ignore.update(_map(id, parent))
    depth = 0
    while frontier and depth < maxdepth:
        depth += 1
        fl = [v[0] for v in frontier.values()]
        ignore.add(id(fl))
        refs = gc.get_referrers(*fl)
        ignore.add(id(refs))
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
            for c in gc.get_referents(r):
                ent = frontier.get(id(c))
                if ent is None:
                    continue
                for ti in ent[1]:
                    if found[ti] is not None or id(r) in parent[ti]:
                        continue
                    parent[ti][id(r)] = (r, id(c))
                    if id(r) in roots or issubclass(tr, type) or tr is _FRAME_TYPE:
                        found[ti] = id(r)
                        continue
                    e = nxt.get(id(r))
                    if e is None:
                        e = nxt[id(r)] = [r, []]
                        ignore.add(id(e))
                        ignore.add(id(e[1]))
                    if len(nxt) < cap * n:
                        e[1].append(ti)
        del refs, fl
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
    for p in parent:
        p.clear()
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
    for p, c in _zip(chain, chain[1:]):
        kind, v = _edge(p, c)
        if kind == 'instdict':
            attrmode = True
            continue
        if kind == 'key':
            s += _key_text(v, attrmode)
        elif kind == 'idx':
            s += '[%d]' % v
        elif kind == 'attr':
            s += '.' + v
        elif kind == 'member':
            s += '{member}'
        elif kind == 'frame':
            pass
        else:
            s += ' -> <%s>' % (v or '?')
        attrmode = False
    return s


def _largest(objs, sizes, n, ignore):
    import heapq
    top = heapq.nlargest(n, sizes)
    if not top:
        return []
    thr = top[-1]
    idx = [i for i, s in enumerate(sizes) if s >= thr]
    idx.sort(key=sizes.__getitem__, reverse=True)
    idx = idx[:n]
    cands = [objs[i] for i in idx]
    csizes = [sizes[i] for i in idx]
    return cands, csizes


def gdb_memleak_payload(args):
    args = args or {}
    top = int(args.get('top', 10))
    nlarge = int(args.get('largest', 0))
    backend = args.get('backend', 'auto') or 'auto'
    note = None
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        use_guppy = backend == 'guppy' or (backend == 'auto' and args.get('prefer_guppy'))
        res = None
        if use_guppy:
            try:
                __import__('guppy')
            except Exception as e:
                if backend == 'guppy':
                    raise RuntimeError('guppy3 not importable in the target: %s' % _exc_text(e))
                note = 'guppy3 not importable in the target: %s' % _exc_text(e)
                use_guppy = False
        if use_guppy:
            hazards = _guppy_hazards()
            if hazards:
                why = ('guppy would run the target\'s own code (%s); the census backend '
                       'does not' % ', '.join(hazards))
                if backend == 'guppy':
                    return {'refused': '--backend guppy refused: ' + why + ' (use --backend census)'}
                note = 'census backend used: ' + why
                use_guppy = False
        if use_guppy:
            res = _guppy(top)
            res['backend'] = 'guppy'
            if sys.version_info >= (3, 11):
                note = ('guppy traversal creates the lazily-built __dict__ of '
                        'instances on Python 3.11+ (they stay)')
        ignore = _own_ids()
        largest = []
        if res is None or nlarge > 0:
            objs, ntracked = _collect(ignore)
            ignore.add(id(objs))
            if res is None:
                res, sizes = _census(objs, ntracked, top)
                res['backend'] = 'census'
            else:
                sizes = _sizes(objs)  # never a __sizeof__ written in Python
            ignore.add(id(sizes))
            if nlarge > 0:
                cands, csizes = _largest(objs, sizes, nlarge, ignore)
                del objs[:]
                del sizes[:]
                del objs, sizes
                ignore.add(id(cands))
                paths = _find_paths(cands, ignore)
                for o, s, p in _zip(cands, csizes, paths):
                    t = type(o)
                    largest.append({'type': _type_name(t), 'size': s,
                                    'repr': _short(o, t), 'path': p})
                del cands[:]
                del cands, o
            else:
                del objs[:]
                del sizes[:]
                del objs, sizes
        if gc.get_freeze_count() if hasattr(gc, 'get_freeze_count') else 0:
            fz = 'objects frozen with gc.freeze() (%d) are not listed by gc.get_objects()' % gc.get_freeze_count()
            note = fz if note is None else note + '; ' + fz
        res['largest'] = largest
        res['note'] = note
        return res
    finally:
        _clear_caches()
        if was_enabled:
            gc.enable()
        _mod_cleanup()


if __name__ == "__main__":
    import json, sys
    sys.stdout.write(json.dumps(gdb_memleak_payload({})) + "\n")
    sys.stdout.flush()
