"""Runs a payload inside the target and turns its outcome into ASCII JSON bytes.

The injector appends this file, and then one line calling __gdb_memleak_run__,
to the payload's source; all of it runs as one module in a fresh globals dict.
It imports nothing: importing json or traceback would leave modules, and memory,
in the target, and an import statement runs the target's import hooks.  So it
writes its JSON itself, and formats a failure itself.  Its first statements switch
off, for the payload, what would run the target's code in it (the quiet block,
_gdb_memleak_quiet.py, which the injector sends first of all: the payload is quiet
from its first statement); the runner's last statements switch it back on.
Python 2.7 and 3.x alike.
"""

# The quiet block (_gdb_memleak_quiet.py) is sent ahead of the payload: it has run already.


try:
    __gdb_memleak_state__  # set by _gdb_memleak_common.py, when the payload starts with it
except NameError:
    __gdb_memleak_quiet__ = __gdb_memleak_quiet_start__()  # (nothing switched off: CALL_RUNNER's restore does nothing)
    __gdb_memleak_quiet__[2] = __gdb_memleak_quiet__[3] = None
    __gdb_memleak_state__ = __gdb_memleak_enter__(__gdb_memleak_quiet__)
sys = __gdb_memleak_state__['sys']

# A result larger than this is a bug in a payload; refuse it rather than make
# the target hold, and gdb read, a huge string.
__gdb_memleak_max_result__ = 8 * 1024 * 1024

try:
    __gdb_memleak_text__ = (unicode, str)  # noqa: F821 (Python 2)
    __gdb_memleak_ints__ = (int, long)  # noqa: F821
except NameError:
    __gdb_memleak_text__ = (str,)
    __gdb_memleak_ints__ = (int,)

__gdb_memleak_escapes__ = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def __gdb_memleak_json_string__(text):
    if isinstance(text, bytes) and bytes is not str:
        text = text.decode("latin-1")
    elif not isinstance(text, type(u"")):
        text = text.decode("utf-8", "replace")  # a Python 2 str
    out = []
    for ch in text:
        code = ord(ch)
        if ch in __gdb_memleak_escapes__:
            out.append(__gdb_memleak_escapes__[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:  # a surrogate pair, as JSON spells characters beyond the BMP
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
    return '"' + "".join(out) + '"'


def __gdb_memleak_json__(value, out):
    """Append the JSON text of `value` (dicts, lists, text, numbers, None) to `out`."""
    kind = type(value)
    if value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int or kind is __gdb_memleak_ints__[-1]:
        out.append(int.__repr__(int(value)) if kind is int else repr(value).rstrip("L"))
    elif kind is float:
        # NaN and infinities are not JSON.
        out.append(repr(value) if value == value and value - value == 0 else "null")
    elif kind is __gdb_memleak_text__[0] or kind is __gdb_memleak_text__[-1] or kind is bytes:
        out.append(__gdb_memleak_json_string__(value))
    elif kind is dict:
        out.append("{")
        first = True
        for key in value:
            if not first:
                out.append(",")
            first = False
            text_key = type(key) is __gdb_memleak_text__[0] or type(key) is __gdb_memleak_text__[-1]
            out.append(__gdb_memleak_json_string__(key if text_key else "<%s key>" % __gdb_memleak_type_name__(key)))
            out.append(":")
            __gdb_memleak_json__(value[key], out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            __gdb_memleak_json__(item, out)
        out.append("]")
    else:  # payloads return plain data; anything else is reported, never repr()'d
        out.append(__gdb_memleak_json_string__("<%s>" % __gdb_memleak_type_name__(value)))


def __gdb_memleak_type_name__(value):
    """type(value).__name__ read through type's own descriptor: a metaclass cannot intercept it."""
    name = type.__dict__["__name__"].__get__(type(value))
    return name if type(name) is str else "?"


def __gdb_memleak_error__():
    """The failure as text: the innermost frames and the exception, like a traceback's tail.

    Raised in a function of the target's called from the payload's own code (an audit
    hook: those cannot be switched off), the text is one line naming that function."""
    kind, error, tb = sys.exc_info()
    lines = []
    hook = None
    ours = globals()
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        name = code.co_filename
        if (hook is None and lines and frame.f_globals is not ours and not name.startswith("<frozen ")
                and not [p for p in __gdb_memleak_tools__ if name.startswith(p)]):
            hook = "%s (%s, line %d)" % (code.co_name, name, tb.tb_lineno)
        lines.append("  File %s, line %d, in %s" % (code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    frame = tb = None
    # Only a built-in exception's own text: str() of a target's exception class
    # would run the target's __str__.
    message = "(message not shown: not a built-in exception with a text)"
    try:
        args = BaseException.__dict__["args"].__get__(error)
        module = type.__dict__["__module__"].__get__(kind)
        if type(kind) is type and type(module) is str and module in ("builtins", "exceptions"):
            if type(args) is tuple and len(args) == 1 and type(args[0]) is str:
                message = args[0][:2000]
    except Exception:
        pass
    lines = lines[-8:]
    lines.append("%s: %s" % (__gdb_memleak_type_name__(error), message))
    if hook is not None:
        return ("the target's own %s raised %s inside the payload (an audit hook, sys.addaudithook, cannot be "
                "switched off: this one refuses what the payload does)" % (hook, lines[-1]))
    return "\n".join(lines)


def __gdb_memleak_hold_signals__():
    """In the main thread, keep the target's Python signal handlers out of the payload.

    Python runs signal handlers in the main thread, between two bytecodes: a SIGTERM
    arriving while a payload runs there would run the target's handler inside the
    payload, and its SystemExit would end the payload instead of the service
    (issue 17).  So each Python handler is swapped for a recorder (same C handler,
    no window at the OS level); afterwards the handlers are put back, and the signals
    that arrived are sent again once the payload is over and the thread is back in its own
    code (__gdb_memleak_send_later__; gdb, from the answer, where that cannot be): then the
    target handles them as it would have.  (Raised from here, the handler would run at the
    runner's next bytecode.)
    Elsewhere than in the main thread signal.signal() refuses: nothing to hold."""
    _signal = sys.modules.get("_signal")  # loaded at start-up by every 3.x; not imported (no import hooks run)
    if _signal is None:
        return None
    held, arrived = {}, []

    def record(signum, frame):
        arrived.append(signum)

    for signum in range(1, getattr(_signal, "NSIG", 65)):
        try:
            handler = _signal.getsignal(signum)
        except (ValueError, OSError, RuntimeError):
            continue
        if handler is None or type(handler) is int:  # SIG_DFL, SIG_IGN, or set from C
            continue
        try:
            _signal.signal(signum, record)
        except ValueError:  # not the main thread
            break
        except (OSError, RuntimeError):
            continue
        held[signum] = handler
    return held, arrived


def __gdb_memleak_send_later__(signals, traps, tracer):
    """The signals held during the payload, sent to the main thread from a thread of ours once it has
    left the payload's frames, so that the target's handlers run in its own code, unless gdb claims
    them (the claim in the globals, which gdb sets once it has read this answer: gdb then sends
    them: inject/held_signals.py).  True once that thread is started; False: gdb sends them.  A
    SIGTERM was lost, and the service never shut down, when gdb was killed during the payload, and
    when gdb gave the call up (a second Ctrl-C) but stayed attached (2026-12-07): gdb never read the
    answer.  If gdb is gone, only once the int3s it left on the dynamic linker's events (`traps`) are
    out: a service that shut down at once died of SIGTRAP at a dlopen (1 run in 12, before the keeper
    had put them back); a thread's end loads libgcc_s up to 3.9.5 too.  `tracer`: gdb's pid as this
    process sees it (0: unknown).  3.x only: 2.7 holds no signal (no _signal module).  Never raises:
    nobody would clear it."""
    try:
        state = __gdb_memleak_state__
        thread, _signal = __gdb_memleak_module__(state, '_thread'), __gdb_memleak_module__(state, '_signal')
        thread = __gdb_memleak_thread_functions__(state, thread) if thread is not None else None
        if thread is None or _signal is None:
            return False
        traps = [t for t in traps if type(t) is list and len(t) == 2] if type(traps) is list else []
        seen = __gdb_memleak_tracer_pid__(state)
        gdb = tracer if type(tracer) is int and tracer > 0 else 0
        if gdb and seen not in (gdb, -1) and not __gdb_memleak_put_back__(state, traps):
            return False  # gdb gone, its int3s still in
        resend = __gdb_memleak_resender__(thread, _signal, signals, (gdb if seen == gdb else 0, traps))
        thread.start_new_thread(resend[0], ())
        globals()['__gdb_memleak_signals_claim__'] = resend[1]  # (packaging.CLAIM_NAME) only once the thread runs
        return True
    except BaseException:  # noqa: B036 (no thread to be had: a limit on threads, memory)
        return False


def __gdb_memleak_thread_functions__(state, thread):
    """What the sending thread needs of _thread, as the interpreter made it, in a module of ours:
    _thread's own functions or, where gevent's monkey patching put its own in their place (its
    code, and a greenlet's id is no thread's), the originals it keeps in gevent.monkey.saved (a
    held SIGTERM was lost with gdb in a gevent service before, 2026-12-07).  None if neither."""
    monkey = __gdb_memleak_module__(state, 'gevent.monkey')
    saved = monkey.__dict__.get('saved') if monkey is not None else None
    kept = dict.get(saved, '_thread') if type(saved) is dict else None
    kept = kept if type(kept) is dict else {}
    own = thread.__dict__
    functions = type(thread)('_thread')
    for name in ('get_ident', 'allocate_lock', 'start_new_thread', 'get_native_id'):
        f = dict.get(own, name)
        f = f if type(f) is type(len) else dict.get(kept, name)
        if type(f) is type(len):
            functions.__dict__[name] = f
        elif name != 'get_native_id':  # (new in 3.8)
            return None
    return functions


def __gdb_memleak_resender__(thread, _signal, signals, watch):
    """The function __gdb_memleak_send_later__'s thread runs, and the claim it answers to: a bytearray of
    gdb's byte (0; 1 claimed by gdb; 2 sent by gdb; 3 handed back to this thread by a gdb that gave the
    call up after its claim), whether this thread waits for the 2, the signals.
    The signal goes to the main thread once it has left the payload's frames and sleeps (its state
    in /proc, 'S', read for up to 200 of this thread's looks, 1 ms apart at least): a thread that has
    just let go of the GIL on its way back into a blocking call (Event.wait(), select()) and gets it
    before the call runs the C handler, but the call then waits on, and the target's handler never ran
    (1 test run of 12, 2026-12-07, Debian's 3.11 in Event.wait()); sent once it sleeps, the call's
    EINTR brings the thread out to run it.  `watch`: gdb's pid (0: not known; then no waiting) and its
    int3s.  Claimed (1), it waits for gdb's 2 as long as gdb traces the process, and sends them itself
    if gdb goes first: a gdb killed between its claim and its sending lost them.  gdb writes the 2 into
    the claim, which only this thread holds by then: so while gdb is there it never ends before the
    2 (nor on an error, nor out of looks: it looks every 0.1 s then), unless it has sent them before
    any claim (gdb then never claims: the main thread sent nothing back to it)."""
    posix = __gdb_memleak_module__(__gdb_memleak_state__, 'posix')
    native = getattr(thread, 'get_native_id', posix.getpid)  # (before 3.8: the main thread's is the process's)
    main, frames, ours = thread.get_ident(), sys._current_frames, globals()
    pause = thread.allocate_lock()  # a pause that runs no code of the target's (its time.sleep may be gevent's)
    pause.acquire()
    # To the main thread, as gdb would send it (held_signals.send_again): a process-wide signal taken
    # by another thread leaves a main thread that waits for good without its handler.
    send, opening, reading, writing, closing, number = _signal.pthread_kill, posix.open, posix.pread, posix.pwrite, posix.close, int
    cloexec = getattr(posix, 'O_CLOEXEC', 0o2000000)  # (not left to a program the target execs)
    gdb, traps = watch
    fds = [-1, -1, -1]
    files = [('/proc/self/task/%d/stat' % native(), posix.O_RDONLY), ('/proc/self/status', posix.O_RDONLY),
             ('/proc/self/mem', posix.O_RDWR)]
    if gdb:
        try:  # open now: an open refused later (an audit hook, no fd left) would read as gdb there
            fds[1] = opening(files[1][0], files[1][1] | cloexec)
        except Exception:
            gdb = 0
    traps = [(t[0], bytes(bytearray((t[1],)))) for t in traps]
    claim = bytearray([0, 1 if gdb else 0] + signals)
    pending, budget = tuple(signals), [5000, 200]  # looks, then the main thread's looks out of the payload

    # It runs once the payload's globals may be gone (emptied on the way back): no global or
    # builtin name is looked up in what follows (a `range` there ended the thread on 3.6 before it sent anything).
    def read(which, size, at):
        if fds[which] < 0:
            fds[which] = opening(files[which][0], files[which][1] | cloexec)
        return reading(fds[which], size, at)

    def tracer():  # (unread: gdb's, as if still there)
        try:
            return number(read(1, 8192, 0).split(b'TracerPid:', 1)[1].split(None, 1)[0])
        except:  # noqa: E722
            return gdb

    def main_sleeps():  # None: still in the payload, or not known
        frame = frames().get(main)
        while frame is not None and frame.f_globals is not ours:
            frame = frame.f_back
        if frame is not None:
            return None
        try:
            return read(0, 512, 0).rsplit(b')', 1)[1].split()[0] == b'S'
        except:  # noqa: E722
            return False

    def look():  # True: over
        if claim[0] == 3:  # handed back by a gdb that gave the call up: the looks start again
            claim[0], budget[0], budget[1] = 0, 5000, 200
        there = gdb and tracer() == gdb
        if claim[0] == 2 or (claim[0] == 1 and not gdb):
            return True  # gdb sent them, or sends them (unwatched)
        if claim[0] == 1:
            if there:
                return False
            claim[0], budget[0], budget[1] = 0, 5000, 200  # gdb went before sending them: this thread sends them
        asleep = main_sleeps()
        if asleep is None:
            return False
        budget[1] -= 1
        if asleep or not budget[1]:
            if gdb and not there and tracer() == 0:
                for address, byte in traps:  # what __gdb_memleak_put_back__ does, no global looked up
                    if read(2, 1, address) == b'\xcc':
                        writing(fds[2], byte, address)
            for signum in pending:
                send(main, signum)
            return True
        return False

    def __gdb_memleak_resend__():
        try:
            while True:
                try:
                    if look():
                        return
                except:  # noqa: E722 (no name to look up; nothing of the target's to tell)
                    pass
                budget[0] -= 1
                if budget[0] <= 0 and not (gdb and tracer() == gdb):
                    return  # out of looks, gdb gone or never known: it writes nothing into the claim
                pause.acquire(True, 0.001 if budget[0] > 0 else 0.1)
        finally:
            for fd in fds:
                if fd >= 0:
                    closing(fd)

    return __gdb_memleak_resend__, claim


def __gdb_memleak_release_signals__(holding):
    """Put the handlers back; the signals that arrived meanwhile, in order."""
    if not holding:
        return []
    _signal = sys.modules["_signal"]
    held, arrived = holding
    for signum, handler in held.items():
        _signal.signal(signum, handler)
    return arrived


def __gdb_memleak_fire_expired_switches__():
    """A --watch whose gdb went away left tracing on, with a dead man's switch in gc.callbacks that
    turns it off at the target's first collection after its deadline (watch.py).  A target that has
    not collected since (gc off, or containers freed as fast as made) still traces: its deadline
    past, the switches are called here as a collection would call them.  Not for watch.py's own
    payloads, which take such tracing over or say whose it was."""
    record = sys.__dict__.get('_gdb_memleak_tracing')
    modules = sys.modules
    if type(record) is not dict or type(record.get('deadline')) is not float or type(modules) is not dict:
        return
    time, gc = dict.get(modules, 'time'), dict.get(modules, 'gc')
    if type(time) is not type(sys) or type(gc) is not type(sys) or time.monotonic() < record['deadline']:
        return
    callbacks = gc.callbacks
    function = type(__gdb_memleak_fire_expired_switches__)
    for callback in list(callbacks) if type(callbacks) is list else ():
        code = callback.__code__ if type(callback) is function else None
        if code is not None and code.co_name == '_gdb_memleak_watch_switch' and code.co_filename == '<string>':
            callback('stop', {})  # (it never raises: watch.py)


def __gdb_memleak_failure__():
    try:
        return __gdb_memleak_error__()
    except BaseException:  # e.g. an audit hook refusing the traceback's frames too
        return "%s (no more could be read)" % __gdb_memleak_type_name__(sys.exc_info()[1])


__gdb_memleak_tools__ = []


def __gdb_memleak_run__(args, tool_paths):
    try:
        __gdb_memleak_tools__[:] = [p for p in tool_paths if type(p) is str]
        paths = sys.path  # a target may make it a tuple: then the tools are not added
        added = [p for p in tool_paths if p not in paths] if type(paths) is list else []
        if added:
            paths.extend(added)
        holding = __gdb_memleak_hold_signals__()
        tracer = args.get('tracer') if type(args) is dict else None  # gdb, as this process sees it
        try:
            try:
                if not globals().get('_TAKES_OVER_LEFT_TRACING'):
                    __gdb_memleak_fire_expired_switches__()
                result = gdb_memleak_payload(args)  # noqa: F821 (defined by the payload above)
                # The envelope: a result, or a refusal ({"code", "reason"}: nothing measured, and
                # why), or an error.  Notes stay in the result: they belong to its document.
                if type(result) is dict and "refusal" in result:
                    doc = {"ok": True, "refusal": result["refusal"]}
                else:
                    doc = {"ok": True, "result": result}
            except BaseException:
                doc = {"ok": False, "error": __gdb_memleak_failure__()}
        finally:
            for p in added:
                while p in paths:
                    paths.remove(p)
            doc["signals"] = __gdb_memleak_release_signals__(holding)
            if doc["signals"] and not args.get('seccomp'):  # (a thread's end calls madvise: the filter may forbid it)
                doc["resent"] = __gdb_memleak_send_later__(doc["signals"], args.get('traps'), tracer)
            traced = __gdb_memleak_state__.get("tracemalloc")
            if traced is not None and traced[0].is_tracing():  # [its tables' bytes before, after]
                doc["tracemalloc"] = [traced[1], traced[0].get_tracemalloc_memory()]
        out = []
        try:
            __gdb_memleak_json__(doc, out)
        except Exception:
            out = []
            __gdb_memleak_json__({"ok": False, "error": __gdb_memleak_failure__()}, out)
        text = "".join(out)
        if len(text) > __gdb_memleak_max_result__:
            # the signals held back still go to the gdb side, which sends them if the target does not
            text = '{"ok": false, "too_large": %d, "signals": [%s], "resent": %s}' % (
                len(text), ", ".join(str(int(s)) for s in doc.get("signals") or []), "true" if doc.get("resent") else "false")
        return text.encode("ascii")
    finally:
        # Last: gc back on (nothing is allocated in this thread after it); the trace and profile
        # functions come back after this returns, in the module's frame (packaging.CALL_RUNNER).
        __gdb_memleak_leave__(__gdb_memleak_state__)
