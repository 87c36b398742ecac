# When py-cycles TYPE filters matched nothing: which of the names no class in the target has.
#
# Walks the class tree from object with type.__subclasses__ and reads names
# through type's own descriptors: no instance is touched, no target code
# (properties, metaclass methods) runs.  Python 2.7 and 3.x.

def gdb_memleak_payload(args):
    import sys
    wanted = set(args['types'])
    d = type.__dict__
    # Python 2.7's type has no __qualname__: the name stands for it there.
    getname, getqual, getmod = d['__name__'].__get__, d.get('__qualname__', d['__name__']).__get__, d['__module__'].__get__
    subclasses = d['__subclasses__']
    found = set()
    seen = set()
    stack = [object]
    while stack and len(found) < len(wanted):
        c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        try:
            name, qual, mod = getname(c), getqual(c), getmod(c)
        except Exception:
            continue
        text = (str, type(u''))
        for n in (name, qual, mod + '.' + qual if isinstance(mod, text) and isinstance(qual, text) else None):
            if n in wanted:
                found.add(n)
        try:
            stack.extend(subclasses(c))
        except Exception:
            pass
    typesmod = sys.modules.get('types')
    for n in wanted - found:  # guppy-style names of builtin types, e.g. types.CodeType
        if n.startswith('types.') and typesmod is not None and isinstance(typesmod.__dict__.get(n[6:]), type):
            found.add(n)
    return {'unknown': sorted(wanted - found)}


if __name__ == "__main__":
    import json
    import sys as _sys
    print(json.dumps(gdb_memleak_payload({"types": _sys.argv[1:]})))
