# Before py-heap --backend guppy: would `import guppy` load a guppy3 built for this interpreter?
#
# Imports nothing: finds the guppy package that `import guppy` would load
# (sys.path order; the tool directories come last, as the runner appends them)
# and checks that its extension modules carry this interpreter's own ABI tag
# (_imp.extension_suffixes()[0]).  A guppy3 built for another Python would fail
# half-imported or, untagged, load and crash.  Python 2.7 and 3.x.

def _unusable(reason):
    return {'refusal': {'code': 'tool_missing', 'reason': reason}}


def gdb_memleak_payload(args):
    import sys
    mod = sys.modules.get('guppy')
    if mod is not None and getattr(mod, 'hpy', None) is not None:
        return {'ok': True, 'where': getattr(mod, '__file__', None)}
    if sys.version_info[0] < 3:
        return _unusable('guppy3 needs Python 3; the target runs %d.%d' % tuple(sys.version_info[:2]))
    osmod = sys.modules.get('posix') or sys.modules.get('nt')
    imp = sys.modules.get('_imp')
    if osmod is None or imp is None:
        return _unusable('cannot inspect the target\'s import path')
    suffixes = list(imp.extension_suffixes())

    def kind(path):
        try:
            mode = osmod.stat(path).st_mode & 0o170000
        except Exception:
            return None
        return 'dir' if mode == 0o040000 else 'file' if mode == 0o100000 else None

    def listing(path):
        try:
            return sorted(osmod.listdir(path))
        except Exception:
            return []

    for entry in list(sys.path):
        if not isinstance(entry, str):
            continue
        base = entry or osmod.getcwd()
        pkg = base.rstrip('/') + '/guppy'
        if kind(pkg) == 'dir' and any(kind(pkg + '/__init__' + s) == 'file' for s in ['.py', '.pyc'] + suffixes):
            break
        for s in suffixes + ['.py', '.pyc']:
            if kind(pkg + s) == 'file':
                return _unusable('%s%s is not guppy3\'s package' % (pkg, s))
    else:
        return _unusable('guppy3 is not installed where the target can import it (searched its sys.path, '
                         'which holds the tool directories for this interpreter; `gdb-memleak prepare '
                         '--python` with its interpreter puts it there)')
    tag = suffixes[0]
    for sub in ('sets/setsc', 'heapy/heapyc'):
        found = [s for s in suffixes if kind(pkg + '/' + sub + s) == 'file']
        if not found or found[0] != tag:
            folder, _, name = (pkg + '/' + sub).rpartition('/')
            built = [n for n in listing(folder) if n.startswith(name + '.') and n.endswith(('.so', '.pyd'))]
            return _unusable('the guppy3 in %s was built for another Python: %s has %s, the target '
                             'needs %s%s' % (pkg, folder, ', '.join(built) or 'no extension module', name, tag))
    return {'ok': True, 'where': pkg}


if __name__ == "__main__":
    import json
    print(json.dumps(gdb_memleak_payload({})))
