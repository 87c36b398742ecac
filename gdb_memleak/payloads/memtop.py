# Thread locations read from inside the target: sys._current_frames().
#
# Used by py-memtop when gdb cannot read the frames itself (no debug symbols or
# no libpython helper for the target's interpreter).  Python 2.7 and 3.x.
#
# Runs no code of the target's own and takes no lock: thread names are read
# from threading's registry as plain attribute values (a Thread subclass can
# turn .name into a property), and threading is not imported when the target
# has not imported it.

try:  # sent by the injector: sys as the quiet block reached it, no import hook run (issue 17)
    _sys = __gdb_memleak_quiet__[0]  # noqa: F821
except NameError:  # run on its own (python memtop.py)
    import sys as _sys

_TEXT = (str, unicode) if _sys.version_info[0] == 2 else (str,)  # noqa: F821
_MRO = type.__dict__['__mro__']
_TDICT = type.__dict__['__dict__']
_MODULE = type(_sys)
_MODULE_DICT = _MODULE.__dict__['__dict__']


def _plain(s, limit):
    """s as an exact built-in string of at most `limit` characters, or None."""
    for base in _TEXT:
        if issubclass(type(s), base):
            n = base.__len__(s)
            r = base.__getitem__(s, slice(0, limit))
            return r if n <= limit else r + "..."
    return None


def _plain_int(v):
    return v if type(v) is int or (_sys.version_info[0] == 2 and type(v) is long) else None  # noqa: F821


def _instance_value(obj, name):
    """obj.name when it is an instance value, or None: a class-level entry for
    the name (a property, say) is never called."""
    try:
        for klass in _MRO.__get__(type(obj)):
            if name in _TDICT.__get__(klass):
                return None
        return object.__getattribute__(obj, name)
    except Exception:
        return None


def _thread_names():
    # threading._active maps ident -> Thread; copying an exact dict is atomic
    # under the GIL, where enumerate() would take threading's lock (which the
    # thread we run in may hold).
    modules = _sys.modules
    threading = dict.get(modules, "threading") if issubclass(type(modules), dict) else None
    if type(threading) is not _MODULE:  # anything else's class could run code on attribute access
        return {}
    try:
        active = dict.get(_MODULE_DICT.__get__(threading), "_active")
    except Exception:
        return {}
    if type(active) is not dict:
        return {}
    names = {}
    for ident, thread in list(active.items()):
        if _plain_int(ident) is None:
            continue
        name = _plain(_instance_value(thread, "_name" if _sys.version_info[0] > 2 else "_Thread__name"), 200)
        native_id = _plain_int(_instance_value(thread, "_native_id"))
        names[ident] = (name, native_id)
    return names


def _outside_frame(frame):
    """The target's own frame under the injector's runner, if `frame` is inside it."""
    outside = frame
    while frame is not None:
        g = frame.f_globals
        if type(frame.f_code.co_filename) is str and frame.f_code.co_filename == "<string>" \
                and issubclass(type(g), dict) and dict.__contains__(g, "__gdb_memleak_run__"):
            outside = frame.f_back  # the runner's outermost frame wins
        frame = frame.f_back
    return outside


def gdb_memleak_payload(args):
    limit = int(args.get("stack", 5))
    names = _thread_names()
    threads = []
    frames_by_ident = _sys._current_frames()
    try:
        for ident, frame in frames_by_ident.items():
            frame = _outside_frame(frame)
            frames = []
            while frame is not None and len(frames) < limit:
                code = frame.f_code
                frames.append({"file": _plain(code.co_filename, 1000) or "?", "line": frame.f_lineno,
                               "function": _plain(code.co_name, 200) or "?"})
                frame = frame.f_back
            name, native_id = names.get(ident, (None, None))
            threads.append({"ident": ident, "tid": native_id, "name": name, "frames": frames})
    finally:
        # Frames keep their locals alive: drop every reference before returning.
        frames_by_ident.clear()
        frame = None
    return {"threads": threads}


if __name__ == "__main__":
    import json
    import sys

    sys.stdout.write(json.dumps(gdb_memleak_payload({})) + "\n")
    sys.stdout.flush()
