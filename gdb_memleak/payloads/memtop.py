# Thread locations read from inside the target: sys._current_frames().
#
# Used by py-memtop when gdb cannot read the frames itself (no debug symbols or
# no libpython helper for the target's interpreter).  Python 2.7 and 3.x.


def _thread_names():
    import threading

    # threading._active is a snapshot of started threads; enumerate() copies it.
    names = {}
    for thread in threading.enumerate():
        names[thread.ident] = (thread.name, getattr(thread, "native_id", None))
    return names


def _outside_frame(frame):
    """The target's own frame under the injector's runner, if `frame` is inside it."""
    outside = frame
    while frame is not None:
        if frame.f_code.co_filename == "<string>" and "__gdb_memleak_run__" in frame.f_globals:
            outside = frame.f_back  # the runner's outermost frame wins
        frame = frame.f_back
    return outside


def gdb_memleak_payload(args):
    import sys

    limit = int(args.get("stack", 5))
    names = _thread_names()
    threads = []
    frames_by_ident = sys._current_frames()
    try:
        for ident, frame in frames_by_ident.items():
            frame = _outside_frame(frame)
            frames = []
            while frame is not None and len(frames) < limit:
                code = frame.f_code
                frames.append({"file": code.co_filename, "line": frame.f_lineno, "function": code.co_name})
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
