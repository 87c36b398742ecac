# gdb-memleak payload helpers: marks kept inside the target (statistics only, never objects).
#
# A mark is the census of one moment per kind (py-heap --mark) or per cycle group
# (py-cycles --mark): {key: [count, size]}, stored under its name in one dict on
# the sys module (sys._gdb_memleak_marks), so a mark outlives gdb: detach,
# re-attach, and --since NAME still finds it.  It holds strings and numbers only:
# it keeps no object of the target's alive.  Dropping the last mark removes the
# attribute.  The payload that measures stores the mark itself, in the same safe
# point (issue 15).  Sent ahead of heap.py, cycles.py and marks.py.  Python 2.7 and 3.x.
# No import statement (it would run the target's import hooks, issue 17): sys is the one
# the quiet block (_gdb_memleak_quiet.py, or the runner) put in the module's globals.

_GDBML_MARKS_ATTR = "_gdb_memleak_marks"


def _gdbml_sys():
    s = globals().get("sys")
    if s is None:  # run on its own (python marks.py): no quiet block, no hooks to avoid
        import sys as s
    return s


def _marks_store(create):
    s = _gdbml_sys()
    namespace = type(s).__dict__["__dict__"].__get__(s)
    marks = namespace.get(_GDBML_MARKS_ATTR)
    if type(marks) is not dict:
        if not create:
            return None
        marks = namespace[_GDBML_MARKS_ATTR] = {}
    return marks


def _mark_summary(name, mark):
    return {"name": name, "time": mark["time"], "kinds": len(mark["rows"]),
            "total_count": mark["total"][0], "total_size": mark["total"][1]}


def _mark_set(name, when, rows, total_count, total_size):
    """Store rows [[key, count, size], ...] as mark `name`; its summary."""
    table = dict((key, [int(count), int(size)]) for key, count, size in rows)
    mark = {"time": float(when), "rows": table, "total": [int(total_count), int(total_size)]}
    _marks_store(True)[name] = mark
    return _mark_summary(name, mark)


def _mark_get(name):
    """Mark `name` with its rows, or None."""
    mark = (_marks_store(False) or {}).get(name)
    if mark is None:
        return None
    doc = _mark_summary(name, mark)
    doc["rows"] = [[key, counts[0], counts[1]] for key, counts in mark["rows"].items()]
    return doc


def _mark_drop(name):
    marks = _marks_store(False) or {}
    if name not in marks:
        return False
    del marks[name]
    if not marks:
        s = _gdbml_sys()
        del type(s).__dict__["__dict__"].__get__(s)[_GDBML_MARKS_ATTR]
    return True


def _marks_list():
    marks = _marks_store(False) or {}
    return [_mark_summary(name, marks[name]) for name in sorted(marks)]


def _no_mark(name, prefix=""):
    """The refusal for a missing mark, naming the marks of the same family (heap or cycles/)."""
    marks = _marks_store(False) or {}
    known = [n[len(prefix):] for n in sorted(marks) if (n.startswith(prefix) if prefix else "/" not in n)]
    return {"refusal": {"code": "no_mark", "reason": "no %smark named %s in the target (marks: %s)"
                        % ("cycles " if prefix else "", name[len(prefix):], ", ".join(known) or "none")}}


def _marks_ids():
    """The ids of the marks' own containers: a census leaves them out (they are ours, not the target's)."""
    marks = _marks_store(False)
    if marks is None:
        return set()
    ids = set([id(marks)])
    for mark in marks.values():
        ids.update((id(mark), id(mark["rows"]), id(mark["total"])))
        ids.update(id(v) for v in mark["rows"].values())
    return ids
