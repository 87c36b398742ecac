# Heap marks kept inside the target: statistics only, never objects.
#
# py-heap --mark NAME stores the census rows of that moment ({kind: [count,
# size]}) under NAME, in one dict on the sys module (sys._gdb_memleak_marks),
# so a mark outlives gdb: detach, re-attach, and --since NAME still finds it.
# The dict holds strings and numbers only; it keeps no object of the target's
# alive.  Dropping the last mark removes the attribute.  Python 2.7 and 3.x.

import sys as _sys

_ATTR = "_gdb_memleak_marks"


def _marks(create):
    namespace = type(_sys).__dict__["__dict__"].__get__(_sys)
    marks = namespace.get(_ATTR)
    if type(marks) is not dict:
        if not create:
            return None
        marks = namespace[_ATTR] = {}
    return marks


def _summary(name, mark):
    return {"name": name, "time": mark["time"], "kinds": len(mark["rows"]),
            "total_count": mark["total"][0], "total_size": mark["total"][1]}


def _no_mark(name, marks):
    known = [n for n in sorted(marks) if not n.startswith("cycles/")]
    return {"refusal": {"code": "no_mark", "reason": "no mark named %s in the target (marks: %s)" % (name, ", ".join(known) or "none")}}


def gdb_memleak_payload(args):
    op = args["op"]
    if op == "set":
        rows = dict((kind, [int(count), int(size)]) for kind, count, size in args["rows"])
        _marks(True)[args["name"]] = {"time": float(args["time"]), "rows": rows,
                                      "total": [int(args["total_count"]), int(args["total_size"])]}
        return {"ok": True}
    marks = _marks(False) or {}
    if op == "list":
        return {"marks": [_summary(name, marks[name]) for name in sorted(marks)]}
    if op == "get":
        mark = marks.get(args["name"])
        if mark is None:
            return _no_mark(args["name"], marks)
        doc = _summary(args["name"], mark)
        doc["rows"] = [[kind, counts[0], counts[1]] for kind, counts in mark["rows"].items()]
        return doc
    if op == "drop":
        if args["name"] not in marks:
            return _no_mark(args["name"], marks)
        del marks[args["name"]]
        if not marks:
            namespace = type(_sys).__dict__["__dict__"].__get__(_sys)
            del namespace[_ATTR]
        return {"ok": True}
    raise ValueError("unknown op %r" % (op,))


if __name__ == "__main__":
    import json
    print(json.dumps(gdb_memleak_payload({"op": "list"})))
