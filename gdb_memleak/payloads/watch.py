# py-memtop --watch: which lines allocated the memory that grew during a window.
#
# op "start" turns on CPython's allocation tracing (the builtin _tracemalloc,
# one frame per allocation) unless it is already on; op "stop" reads the traces
# of the blocks still alive, sums them per file:line, names the function of
# each line, and turns tracing off again unless it was on before the window.
# Only the builtin _tracemalloc is used: the tracemalloc module would import
# fnmatch, linecache, pickle ... into the target and leave them there.
# Python 3.4+ (2.7 has no tracemalloc).

import sys as _sys
import gc as _gc


def _tracer():
    try:
        import _tracemalloc
    except ImportError:
        raise RuntimeError("this Python has no tracemalloc (3.4+ only)")
    return _tracemalloc


def _function_names(wanted):
    """(file, line) -> name of the innermost function whose code spans the line."""
    func_type = type(_function_names)
    code_of = func_type.__dict__["__code__"].__get__
    files = set(f for f, _ in wanted)
    best = {}
    for o in _gc.get_objects():
        if type(o) is not func_type:
            continue
        code = code_of(o)
        filename = code.co_filename
        if type(filename) is not str or filename not in files:
            continue
        first = code.co_firstlineno
        try:
            last = max(line for _, _, line in code.co_lines() if line is not None)
        except AttributeError:  # before 3.10: co_lnotab, signed line steps (3.6+)
            last = line = first
            for step in bytearray(code.co_lnotab)[1::2]:
                line += step - 256 if step >= 128 else step
                last = max(last, line)
        for key in wanted:
            if key[0] == filename and first <= key[1] <= last:
                if key not in best or best[key][0] < first:
                    best[key] = (first, code.co_name)
    return dict((key, value[1]) for key, value in best.items())


def gdb_memleak_payload(args):
    tracer = _tracer()
    if args["op"] == "start":
        was_tracing = tracer.is_tracing()
        if not was_tracing:
            tracer.start(1)
        return {"was_tracing": was_tracing}
    if args["op"] == "off":  # py-memtop --watch-stop: after a --watch that could not finish
        was = tracer.is_tracing()
        tracer.stop()
        return {"was_tracing": was}
    # op == "stop"
    if not tracer.is_tracing():
        raise RuntimeError("tracemalloc was turned off in the target during the window")
    traced, peak = tracer.get_traced_memory()
    overhead = tracer.get_tracemalloc_memory()
    # Compiling this payload allocated while tracing, and those blocks are charged to
    # the line where the target was stopped for us: that line is left out.
    here = _sys._getframe()
    while here is not None and here.f_code.co_filename == "<string>":
        here = here.f_back
    ours = (here.f_code.co_filename, here.f_lineno) if here is not None else None
    sites = {}
    for trace in tracer._get_traces():
        size, frames = trace[1], trace[2]
        if not frames:
            continue
        filename, line = frames[0][0], frames[0][1]
        if filename == "<string>" or (filename, line) == ours:  # gdb-memleak's own payloads
            continue
        entry = sites.get((filename, line))
        if entry is None:
            sites[(filename, line)] = [size, 1]
        else:
            entry[0] += size
            entry[1] += 1
    if not args["was_tracing"]:
        tracer.stop()  # also frees every trace
    top = sorted(sites.items(), key=lambda item: -item[1][0])[:args["top"]]
    names = _function_names([key for key, _ in top])
    return {
        "traced": traced,
        "peak": peak,
        "tracemalloc_memory": overhead,
        "still_tracing": bool(args["was_tracing"]),
        "sites": len(sites),
        "left_out": list(ours) if ours else None,
        "allocations": [
            {"file": f, "line": l, "function": names.get((f, l)), "size": s, "count": c} for (f, l), (s, c) in top
        ],
    }


if __name__ == "__main__":
    import json
    state = gdb_memleak_payload({"op": "start"})
    grown = [str(i) * 10 for i in range(10000)]
    print(json.dumps(gdb_memleak_payload({"op": "stop", "was_tracing": state["was_tracing"], "top": 5})))
