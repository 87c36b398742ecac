# gdb-memleak payload helpers shared by heap.py and cycles.py (runs INSIDE the target).
#
# The injector sends this file ahead of those payloads; run on their own they
# load it from beside themselves. Python 2.7 and 3.6+; names start with "_".
# _GDBML_MODS lists every module the payloads may import, so that _mod_cleanup()
# can unregister the ones that were not imported before.

import sys
_GDBML_MODS = ('gc', 'itertools', 'heapq', '_heapq', 'operator', '_operator', '_collections', 'io', 'StringIO', 'cStringIO')
_gdbml_had = [_m for _m in _GDBML_MODS if _m in sys.modules]
import gc
import itertools as _it


def _mod_cleanup():
    for m in _GDBML_MODS:
        if m not in _gdbml_had and m in sys.modules:
            try:
                del sys.modules[m]
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
_HEAPTYPE = 1 << 9
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


def _tdict(t):
    # the mappingproxy of a class: reading it runs no target code
    try:
        return _T_DICTPROXY.__get__(t) or {}
    except Exception:
        return {}


def _qualname(t):
    try:
        mod = _T_MODULE.__get__(t)
    except Exception:
        mod = None
    name = None
    if _T_QUAL is not None:
        try:
            name = _T_QUAL.__get__(t)
        except Exception:
            name = None
    if not isinstance(name, str):
        try:
            name = _T_NAME.__get__(t)
        except Exception:
            name = '?'
    if not isinstance(mod, str):
        mod = None
    return mod, name


_names_cache = {}


def _kind_names():
    # guppy-compatible names for builtin types: 'types.CodeType', 'str',
    # 'function', 'module' ... (built from modules that are already loaded)
    if _names_cache:
        return _names_cache
    inv = {}
    tm = sys.modules.get('types')
    if tm is not None:
        try:
            d = _MOD_DICT.__get__(tm)
            for k in sorted(d):
                v = d[k]
                if isinstance(v, type) and not k.startswith('_'):
                    inv[v] = 'types.' + k
        except Exception:
            pass
    b = sys.modules.get('__builtin__' if _PY2 else 'builtins')
    if b is not None:
        d = _MOD_DICT.__get__(b)
        for k in sorted(d):
            v = d[k]
            if isinstance(v, type):
                inv[v] = k
    inv[_MOD_TYPE] = 'module'
    inv[_FUNC_TYPE] = 'function'
    inv[dict] = 'dict (no owner)'
    _names_cache.update(inv)
    return _names_cache


def _type_name(t, names=None):
    if names is None:
        names = _kind_names()
    n = names.get(t)
    if n is not None:
        if t is dict:
            return 'dict'
        return n
    mod, name = _qualname(t)
    if mod and mod not in ('builtins', '__builtin__'):
        return mod + '.' + name
    return name


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
    gm = sys.modules.get(g.get('__name__'))
    if gm is None or type(gm) is not _MOD_TYPE or _MOD_DICT.__get__(gm) is not g:
        ids.add(id(g))  # the injector's private namespace
    for v in list(g.values()):
        if type(v) is _FUNC_TYPE and v.__globals__ is g:
            ids.add(id(v))
    for v in (_names_cache, _gdbml_had, _INT_TYPES, _STR_TYPES):
        ids.add(id(v))
    f = sys._getframe()
    codes = _own_codes()
    while f is not None:
        if id(f.f_code) in codes:
            ids.add(id(f))
        f = f.f_back
    return ids


def _is_instance_like(t):
    # objects of heap types (user classes) and py2 old-style instances
    return bool(_tflags(t) & _HEAPTYPE) or (_PY2 and t.__name__ == 'instance' and t.__module__ == '__builtin__')


_slot_cache = {}


def _slot_descrs(t):
    r = _slot_cache.get(t)
    if r is None:
        r = []
        for k in _tmro(t):
            for name, v in list(_tdict(k).items()):
                if type(v) is _MEMBER_TYPE and name not in ('__weakref__',):
                    r.append((name, v))
        _slot_cache[t] = r
    return r


_NOTFOUND = object()


def _plain_getattr(o, name):
    # object.__getattribute__ without running target code: refuse names that
    # are data descriptors or have a Python-level __get__ on the class.
    t = type(o)
    for k in _tmro(t):
        d = _tdict(k)
        if name in d:
            ct = type(d[name])
            if hasattr(ct, '__set__') or hasattr(ct, '__delete__'):
                return _NOTFOUND
            g = getattr(ct, '__get__', None)
            if g is not None and type(g) is _FUNC_TYPE:
                return _NOTFOUND
            break
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
        if not isinstance(k, str):
            return None
        v = _plain_getattr(o, k)
        if v is _NOTFOUND:
            continue
        return d if v is d.get(k, _NOTFOUND) else None
    return d
