# gdb-memleak payload: list and drop the marks kept in the target (py-heap --marks,
# --drop-mark).  Storing one is done by the payload that measures (heap.py, cycles.py),
# in the same safe point.  The helpers are in _gdb_memleak_marks.py, sent ahead of this
# file.  Python 2.7 and 3.x.

try:
    _marks_store  # defined by _gdb_memleak_marks.py, which the injector sends ahead of this file
except NameError:  # run on its own (python FILE, or pyrasite)
    import os as _os
    import sys as _sys
    for _dir in _sys.path[:2] + [_os.path.dirname(_os.path.abspath(globals().get("__file__", ".")))]:
        _helpers = _os.path.join(_dir, "_gdb_memleak_marks.py")
        if _os.path.isfile(_helpers):
            exec(compile(open(_helpers).read(), _helpers, "exec"))
            break


def gdb_memleak_payload(args):
    op = args["op"]
    if op == "list":
        return {"marks": _marks_list()}
    if op == "drop":
        if not _mark_drop(args["name"]):
            return _no_mark(args["name"], args.get("prefix", ""))
        return {"dropped": args["name"]}
    raise ValueError("unknown op %r" % (op,))


if __name__ == "__main__":
    import json
    print(json.dumps(gdb_memleak_payload({"op": "list"})))
