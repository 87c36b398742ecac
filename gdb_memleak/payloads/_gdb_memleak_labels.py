# gdb-memleak payload helper: what is the payload's own, and labels (runs INSIDE the target).
#
# Python 2.7 and 3.6+; sent after _gdb_memleak_common.py and _gdb_memleak_release.py, whose
# names it uses, to heap.py and cycles.py (run on their own, they load it from beside
# themselves).  Names start with "_"; the rules of _gdb_memleak_common.py hold here: no
# repr()/str()/getattr() on a target object beyond the exact built-in values named below.

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
              _SNAP, _KEPT, _ORPHANS, _IS_SOLE, _READ_SOLE, _PLAIN_TYPE_IDS, _INERT_TYPE_IDS, _GDB, _GDB_GONE, _GDB_GONE['refusal'],
              __gdb_memleak_state__,
              __gdb_memleak_state__['loaded']):
        ids.add(id(v))
    if type(g.get('__gdb_memleak_quiet__')) is list:  # the quiet block's (sys, saved functions...)
        ids.add(id(g['__gdb_memleak_quiet__']))
    fork27 = __gdb_memleak_state__.get('after_fork')  # Python 2.7's fork guard (quiet block)
    if type(fork27) is tuple:
        ids.add(id(fork27))
    forked = __gdb_memleak_state__.get('forked')  # the after-fork handler (quiet block), its globals
    if forked is not None:
        ids.update((id(forked), id(forked.__globals__)))
    forked27 = __gdb_memleak_state__.get('forked27')  # 2.7's stand-in for threading's: a closure
    if forked27 is not None:
        cells = forked27.__closure__ or ()
        ids.update((id(forked27), id(cells)))
        ids.update(id(cell) for cell in cells)
    _own_guard_ids(g, ids)
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


_BUILTIN_TYPE = type(sys.getrefcount)


def _own_guard_ids(g, ids):
    """Add to ids gdb's fork guard (inject/gc_pause.py), its dict and its weak references (the one
    in threading._dangling): gdb puts the guard in the payload's globals as the gc flag's value.
    Not found by calling the set's weak references, each of which would hand the payload one of
    the target's Thread objects, free to die here; and read here, not kept: ids kept in the run's
    state were counted as the target's ints (a reviewer's find and a test's, 2026-12-05)."""
    guard = g.get('__gdb_memleak_gc_paused__')
    if type(guard) is not _MOD_TYPE:
        return
    ids.add(id(guard))
    ids.add(id(_MOD_DICT.__get__(guard)))
    for name in ('_stop', '_after_fork'):  # the handler gdb put in (inject/fork_handler.py), its globals
        handler = _MOD_DICT.__get__(guard).get(name)
        if type(handler) is _FUNC_TYPE and handler.__code__.co_name == '__gdb_memleak_forked__':
            ids.update((id(handler), id(handler.__globals__)))
    weak = _module('_weakref')
    if weak is not None:
        refs = weak.getweakrefs(guard)
        ids.update(_map(id, refs))
        del refs[:]
    made = g.get('__gdb_memleak_gc_made__')  # gdb's gc, unused where a thread imported one meanwhile (quiet block)
    if type(made) is _MOD_TYPE and made is not _modules().get('gc'):
        ids.update((id(made), id(_MOD_DICT.__get__(made))))
        ids.update(id(f) for f in _MOD_DICT.__get__(made).values() if type(f) is _BUILTIN_TYPE and f.__self__ is made)


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
    if tp is dict or issubclass(tp, dict):  # (a subclass's own items() is its code: dict's is not)
        # not list(p.items()): for a dict of 100k records, an 800 KB list freed at its full
        # size (_free_gently says why not).  A dict another thread changes meanwhile stops
        # the iteration with RuntimeError: the step is then unknown.
        try:
            for k, v in (dict.iteritems if _PY2 else dict.items)(p):  # (2.7's items() is a list of them all)
                if v is c:
                    return ('key', k)
        except RuntimeError:
            pass
        return ('?', None)
    if tp is list or tp is tuple:
        i = _index_of(p, c)
        return ('idx', i) if i is not None else ('?', None)
    if issubclass(tp, list) or issubclass(tp, tuple):  # through the base's iterator, not the subclass's
        i = _index_of((list if issubclass(tp, list) else tuple).__iter__(p), c)
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
