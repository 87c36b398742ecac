# gdb-memleak payload helper: the quiet block, the first code every payload runs (INSIDE the target).
#
# The injector sends this file first, ahead of the helpers, the payload and the runner
# (inject/packaging.py), so that nothing of the target's runs even for the payload's own
# first lines; heap.py and cycles.py run on their own load it from beside themselves,
# ahead of _gdb_memleak_common.py.  Python 2.7 and 3.x.
# The first code a payload runs (issue 17).  Nothing of the target's may run because of us:
#  * imports: never through builtins.__import__ or sys.meta_path (a wrapper or a finder is
#    the target's code; a blocking one hung a command for good).  sys comes from the import
#    system's own module, reached through builtins.__loader__ (BuiltinImporter); a module not
#    imported yet is loaded by the interpreter's own BuiltinImporter.  Python 2.7 has no such
#    module: `import` is used there, which runs no hook when __import__ is the builtin one.
#  * gdb marks the payload's thread as tracing before this code is loaded (inject/evaluation.py,
#    __gdb_memleak_untraced__ in the globals; 3.11+ with the functions CPython exports for it,
#    2.7 and 3.6-3.10 by adding one to the thread state's field): profile and trace
#    functions, C profilers and sys.monitoring tools then see none of it, and nothing is
#    switched here.  Where gdb did not mark it (a build whose thread state does not look as
#    expected; a payload run on its own) this thread's profile and trace functions are switched off for
#    the payload and put back at the very end, both in the module's own frame (the last
#    statements below); they see only its first few events (entering it, and the calls that
#    switch them off), which happen before any of its code can run.  Only those written in
#    Python: a C-level one (cProfile's up to 3.11) cannot be put back from Python, so it stays
#    on and sees the payload (__gdb_memleak_settable__).
#  * automatic gc is paused: a collection started by the payload's own allocations would run
#    the target's finalizers (of its cyclic garbage) in the payload's thread.  On 3.6+ gdb has
#    usually paused it already, and put in a fork guard of its own (inject/gc_pause.py), before
#    this code was even loaded; __gdb_memleak_gc_paused__ in the globals says so, and then
#    neither of them is done or undone here.  Otherwise a child forked
#    meanwhile by another thread must get the target's own gc state back: a stand-in thread
#    object is put in threading._dangling, which threading's after-fork handler (run in the
#    child only) walks, calling _reset_internal_locks/_stop (3.6-3.12) or _after_fork
#    (3.13+) on it; those enable gc again in the child.  It is taken out again afterwards, so
#    nothing stays registered.  Python 2.7's handler does not walk _dangling: there the
#    handler itself, threading._after_fork, is stood in for (__gdb_memleak_guard27__).
# The after-fork handler of a fork guard, and this file's first statement: gdb takes its code from
# the payload's module constants, the first code object there, before any of it runs
# (inject/fork_handler.py); one more line event for a tracer where gdb cannot mark the thread.


def __gdb_memleak_forked__(*args, **kwargs):
    """Called in a child forked while a payload runs (a fork guard's _stop or _after_fork, through
    threading's after-fork handler; 2.7: by the stand-in for that handler): gc on, as the target had
    it, except in a child of subprocess's, whose _execute_child turned gc off around its fork until
    the exec on purpose (bpo-1336: a collection there can hang the child, and its parent).  With
    gc.enable there, 108 of 222 children of a 3.6 target spawned during payloads ran their
    preexec_fn with gc on, 106 of 106 on 2.7 (2026-12-07); gevent.subprocess's, forked through
    gevent.os in a monkey-patched target, 72 of 72.  Never run with the payload's globals (emptied
    on the way back): made a function with globals of its own, sys and gc (fork_handler.py,
    __gdb_memleak_fork_handler__), and it looks up no other name."""
    spawned = False
    try:  # the forking frame, above threading's and ours (none when C forked, as an embedder's loop does)
        f = sys._getframe(1)
        while f is not None and (f.f_globals.get('__name__') in ('threading', 'gevent.os')
                                 or f.f_code.co_name[:14] == '__gdb_memleak_'):
            f = f.f_back
        spawned = f.f_code.co_name == '_execute_child' and f.f_globals.get('__name__') in (
            'subprocess', 'subprocess32', 'gevent.subprocess')
    except:  # noqa: E722
        pass
    try:
        if not spawned:
            gc.enable()
    except:  # noqa: E722
        pass


# Builtins the payloads call, checked before anything else runs: a target that replaced one
# (builtins.len = ...) would have its own code run for it, or the payload fail half-way.  A
# name the interpreter lacks (exec on 2.7) is skipped; builtins.__import__ is never called
# (see imports above).  tests/unit/test_payload_packaging.py holds this list to the payloads.
__gdb_memleak_builtins__ = (
    'AttributeError', 'BaseException', 'Exception', 'ImportError', 'NameError', 'OSError', 'RuntimeError',
    'StopIteration', 'TypeError', 'ValueError', 'all', 'any', 'bool', 'bytearray', 'bytes', 'classmethod', 'complex',
    'dict', 'enumerate', 'filter', 'float', 'frozenset', 'getattr', 'globals', 'hasattr', 'id', 'int',
    'isinstance', 'issubclass', 'iter', 'len', 'list', 'map', 'max', 'memoryview', 'min', 'next', 'object', 'ord', 'property',
    'range', 'repr', 'set', 'slice', 'sorted', 'staticmethod', 'str', 'sum', 'tuple', 'type', 'zip')


def __gdb_memleak_replaced__(builtins):
    """The names above that `builtins` (a dict) binds to something other than the
    interpreter's own function of that name or a type of its own.  Types reached from literals, not by name."""
    t = ().__class__.__class__
    function = t([].append)
    replaced = []
    for name in __gdb_memleak_builtins__:
        if name not in builtins:
            continue
        value = builtins[name]
        kind = t(value)
        if kind is function:
            same = value.__name__ == name
        elif kind is t:
            same = not value.__flags__ & 512  # not a class written in Python (2.7's bytes is str)
        else:
            same = False
        if not same:
            replaced.append(name)
    return replaced


def __gdb_memleak_settable__(f, t):
    """sys.settrace(f) or sys.setprofile(f) would put back exactly what this thread has now: f is a
    Python function or a method of one, which only sys.settrace/sys.setprofile install.  What
    sys.gettrace() and sys.getprofile() return is only the object a C-level tracer or profiler
    gave along with its C function: cProfile's Profile on 3.11 and before (not callable), a
    coverage CTracer, line_profiler's LineProfiler (a class with a Python __call__ of another
    meaning).  Switched off and "put back" with sys.setprofile, cProfile's was replaced by a call
    of its Profile object, which raised TypeError and ended the target's profiling for good
    (2026-12-05, Debian's 3.11, py-memtop).  Those are left on, and see the payload.  And None may
    be a C function given no object: nothing to switch off then either."""
    function = t(__gdb_memleak_settable__)
    k = t(f)
    if k is function:
        return True
    if k is t(__gdb_memleak_settable__.__get__(0)):
        try:
            return t(k.__dict__['__func__'].__get__(f)) is function
        except:  # noqa: E722
            return False
    return False


def __gdb_memleak_quiet_start__():
    """[sys, the import system's globals (None on 2.7), this thread's trace function and profile
    function to switch off (None: none, or one left on: __gdb_memleak_settable__)].  No builtin is
    looked up by name here: type and dict are reached from literals, and `except:` names no
    exception class."""
    g, t, d = __gdb_memleak_quiet_start__.__globals__, ().__class__.__class__, {}.__class__
    b = d.get(g, '__builtins__')
    bd = b if t(b) is d else t(b).__dict__['__dict__'].__get__(b)
    boot, loader = None, d.get(bd, '__loader__')
    try:
        cm = t.__dict__['__dict__'].__get__(loader)['find_spec']
        boot = t(cm).__dict__['__func__'].__get__(cm).__globals__
        s = boot['sys']
        modtype = t(boot['_imp'])
        if t(s) is not modtype or d.get(modtype.__dict__['__dict__'].__get__(s), '__name__') != 'sys':
            boot = None
    except:  # noqa: E722
        boot = None
    if boot is None:
        import sys as s  # Python 2.7: no import system written in Python to reach sys through
    if d.get(g, '__gdb_memleak_untraced__') is not None:  # gdb marked this thread as tracing: they see nothing
        return [s, boot, None, None]
    trace, profile = s.gettrace(), s.getprofile()
    return [s, boot, trace if __gdb_memleak_settable__(trace, t) else None,
            profile if __gdb_memleak_settable__(profile, t) else None]


def __gdb_memleak_quiet_end__(quiet):
    """The trace and profile functions back on, from a function: for a payload run on its own (heap.py,
    cycles.py), whose quiet block ran in a frame of its own anyway.  The injector puts them back in
    the module's own frame (packaging.CALL_RUNNER)."""
    try:
        if quiet[2] is not None:
            quiet[0].settrace(quiet[2])
    finally:
        if quiet[3] is not None:
            quiet[0].setprofile(quiet[3])


def __gdb_memleak_enter__(quiet):
    """The payload's state (below), or None where it must not run (replaced builtins): the refusal
    is then left in __gdb_memleak_result__."""
    g, t, d = __gdb_memleak_enter__.__globals__, ().__class__.__class__, {}.__class__
    b = d.get(g, '__builtins__')
    bd = b if t(b) is d else t(b).__dict__['__dict__'].__get__(b)
    s, boot = quiet[0], quiet[1]
    replaced = __gdb_memleak_replaced__(bd)
    if replaced:
        g['__gdb_memleak_result__'] = (
            '{"ok": true, "signals": [], "refusal": {"code": "hazard", "reason": "the target replaced builtins '
            'the payloads use (' + ', '.join(replaced) + '), so its code would run in their place; '
            'the payload did not run"}}').encode('ascii')
        return None
    state = {'sys': s, 'boot': boot, 'gc': None, 'gc_was': None, 'gc_by_gdb': False, 'guard': None, 'dangling': None, 'store': None,
             'loaded': [], 'tracemalloc': None, 'after_fork': None, 'forked': None, 'forked27': None}
    # A target that traces its allocations traces ours too: its tables' size now, to say what it cost.
    tm = dict.get(s.modules, '_tracemalloc') if type(s.modules) is dict else None
    if type(tm) is type(s) and tm.is_tracing():
        state['tracemalloc'] = (tm, tm.get_tracemalloc_memory())
    gc = __gdb_memleak_gc__(state, d.get(g, '__gdb_memleak_gc_made__'))
    state['gc'] = gc
    # Paused by gdb before the code was loaded, with its own fork guard (inject/gc_pause.py): on
    # for the target, and resumed by gdb after this payload.
    state['gc_by_gdb'] = d.get(g, '__gdb_memleak_gc_paused__') is not None
    state['gc_was'] = gc.isenabled() or state['gc_by_gdb']
    threading = dict.get(s.modules, 'threading') if type(s.modules) is dict else None
    try:
        if state['gc_was'] and boot is None and s.version_info[0] == 2 and type(threading) is type(s):
            __gdb_memleak_guard27__(state, gc, threading)  # before the pause: no fork can come between
        gc.disable()
        dangling = threading.__dict__.get('_dangling') if type(threading) is type(s) else None
        if state['gc_was'] and dangling is not None and not state['gc_by_gdb']:  # gdb's guard is in already
            __gdb_memleak_guard__(state, gc, dangling)
        guard = d.get(g, '__gdb_memleak_gc_paused__')
        ours = t(__gdb_memleak_forked__)
        if type(guard) is type(s) and not all(t(guard.__dict__.get(n)) is ours for n in ('_stop', '_after_fork')):
            # gdb's guard without the handler gdb puts in (inject/fork_handler.py): its gc.enable gives way to it
            handler = __gdb_memleak_fork_handler__(state, gc)
            for name in ('_stop', '_after_fork'):
                guard.__dict__[name] = handler
    except BaseException:  # (2.7: a KeyboardInterrupt between two lines) nothing of this left: no state returned
        __gdb_memleak_leave__(state)
        raise
    return state


def __gdb_memleak_guard__(state, gc, dangling):
    """Put the fork guard in threading._dangling (a WeakSet).  gc is paused meanwhile, and
    a child forked before the guard is in would keep that pause: the guard and its weak
    reference are made while paused, then gc is resumed for the one C call that adds the
    reference to the set, which allocates no container (so starts no collection here)."""
    guard = type(state['sys'])('gdb-memleak fork guard')
    handler = __gdb_memleak_fork_handler__(state, gc)
    for name in ('_reset_internal_locks', '_stop', '_after_fork'):
        guard.__dict__[name] = handler
    try:
        data, remove = dangling.__dict__['data'], dangling.__dict__['_remove']
        if type(data) is not set:
            raise ValueError
        weak = __gdb_memleak_module__(state, '_weakref')
        store = weak.ref(guard, remove)
    except Exception:
        store = None
    try:
        if store is None:  # not the WeakSet we know: added while paused (a fork meanwhile keeps it)
            dangling.add(guard)
        else:
            gc.enable()
            try:
                set.add(data, store)
            finally:
                gc.disable()
        state['guard'], state['dangling'], state['store'] = guard, dangling, store
    except Exception:
        pass


def __gdb_memleak_module__(state, name):
    """Module `name`, without builtins.__import__ or sys.meta_path: the one in sys.modules, or a
    module built into the interpreter loaded by the import system's own BuiltinImporter.
    None for any other module that is not imported yet (never imported from here), except
    on Python 2.7, where it is imported."""
    s = state['sys']
    modules = s.modules
    if issubclass(type(modules), dict):
        m = dict.get(modules, name)
        if type(m) is type(s):
            return m
    boot = state['boot']
    if boot is None:  # Python 2.7: through __import__ (sys.meta_path is empty unless the target filled it)
        try:
            m = __import__(name)
        except ImportError:
            return None
        state['loaded'].append(name)
        return m
    if name not in s.builtin_module_names:
        return None
    state['loaded'].append(name)
    spec = __gdb_memleak_builtin_spec__(boot, name)
    return boot['_load'](spec) if spec is not None else None


def __gdb_memleak_gc__(state, made):
    """The gc module: the one in sys.modules, else the one gdb loaded from C for a target that never
    imported it (`made`, inject/gc_pause.py), given what the import system would have given it and
    put there; else loaded as __gdb_memleak_module__ loads one."""
    s, boot = state['sys'], state['boot']
    modules = s.modules if type(s.modules) is dict else {}
    if type(made) is not type(s) or type(dict.get(modules, 'gc')) is type(s):  # (a thread may have imported one meanwhile)
        return __gdb_memleak_module__(state, 'gc')
    if boot is not None:
        boot['_init_module_attrs'](__gdb_memleak_builtin_spec__(boot, 'gc'), made)
        dict.__setitem__(modules, 'gc', made)
        state['loaded'].append('gc')
    return made


def __gdb_memleak_builtin_spec__(boot, name):
    """The spec the import system's own BuiltinImporter gives module `name` (None: not built in)."""
    importer = boot['BuiltinImporter']
    find = classmethod.__dict__['__func__'].__get__(type.__dict__['__dict__'].__get__(importer)['find_spec'])
    return find(importer, name)


def __gdb_memleak_leave__(state):
    """Undo __gdb_memleak_enter__: gc resumed (unless gdb paused it: the thread's way back resumes
    it), the fork guard out (the trace and profile functions come back after it, in the module's
    frame: packaging.CALL_RUNNER).
    After gc is back this thread makes no container (a collection that one started would
    run here); when gdb paused it, gdb resumes it after this payload, in C calls only."""
    if state is None:
        return
    try:
        if state['dangling'] is not None and state['store'] is None:  # added by WeakSet.add: removed by its code
            state['dangling'].discard(state['guard'])
    finally:
        try:
            if state['gc_was'] and not state['gc_by_gdb']:
                state['gc'].enable()
        finally:
            # Taken out only after gc is back, so that a child forked meanwhile never keeps
            # the pause; set.discard makes no container, so no collection starts here.
            # No local holds the reference: dropped before the guard, it calls back nothing.
            # A thread iterating the set meanwhile would get "Set changed size during iteration":
            # then its own end of iteration takes ours out, as the WeakSet defers its removals.
            # The reference then outlives the guard, whose death runs the set's _remove (the
            # standard library's weakref code): it discards it, or adds it to the pending again.
            try:
                if state['store'] is not None:
                    dd = state['dangling'].__dict__
                    waiting = dd.get('_pending_removals')
                    if dd.get('_iterating') and type(waiting) is list:
                        list.append(waiting, state['store'])
                    else:
                        set.discard(dd['data'], state['store'])
            finally:
                state['store'] = state['guard'] = state['dangling'] = None
                if state.get('after_fork') is not None:  # Python 2.7's guard, after gc is back too
                    __gdb_memleak_unguard27__(state)


# Switched off here, in the module's own frame, and on again by its last statements in the same
# frame (packaging.CALL_RUNNER): a profile or trace function of the target's sees the module's call
# and return, as for any module it runs, and a profile function one c_call (of setprofile) with no
# c_return.  Switched in functions, as before, they saw calls with no returns: profile.Profile
# raised AssertionError ("Bad call") at its next event, which ended the target's profiling for
# good, and a tracer's depth grew by one per payload (2026-12-05).  (A stand-in profile function
# in place of None would give that c_return too, but CPython copies every frame's locals into a
# dict around each call of one: references that the census and the cycle finder would count.)
__gdb_memleak_quiet__ = __gdb_memleak_quiet_start__()
try:
    if __gdb_memleak_quiet__[2] is not None:
        __gdb_memleak_quiet__[0].settrace(None)
finally:
    if __gdb_memleak_quiet__[3] is not None:
        __gdb_memleak_quiet__[0].setprofile(None)
# Defined once the trace and profile functions are off: each `def` before that is a line event
# their tracer sees (3.6 unmarked: 47 a command, 51 with these four above it, 2026-12-07).


def __gdb_memleak_guard27__(state, gc, threading):
    """Python 2.7's fork guard: its after-fork handler is threading._after_fork, looked up by name
    in the child (PyEval_ReInitThreads), and it does not walk _dangling.  For the payload's length
    the handler is a stand-in (__gdb_memleak_fork_handler__), which a child runs instead.  Put in
    before gc is paused and taken out after it is resumed (__gdb_memleak_leave__), so a fork at any
    instant finds gc on or the stand-in in.  Made while gc still runs: a function and its cells."""
    td = threading.__dict__
    original = td.get('_after_fork')
    if original is not None:
        state['after_fork'] = (td, original, __gdb_memleak_fork_handler__(state, gc, td, original))
        td['_after_fork'] = state['after_fork'][2]


def __gdb_memleak_fork_handler__(state, gc, td=None, original=None):
    """What a child forked while the payload runs calls through threading's after-fork handler:
    __gdb_memleak_forked__ with globals of its own (3.x: the fork guard's _stop or _after_fork); on
    2.7, in place of threading._after_fork, a closure that puts that back in `td`, then calls it
    and runs the original.  The child may fork after the way back emptied the payload's globals:
    neither looks up a name there."""
    # (with __builtins__: on 2.7 a function whose frame has other builtins runs in restricted mode,
    # where it could not read the frames, and the children of a test kept gc off)
    space = {'sys': state['sys'], 'gc': gc, '__builtins__': __gdb_memleak_fork_handler__.__globals__.get('__builtins__')}
    forked = type(__gdb_memleak_forked__)(__gdb_memleak_forked__.__code__, space)
    state['forked'] = forked
    if td is None:
        return forked

    def __gdb_memleak_forked27__(*args, **kwargs):
        td['_after_fork'] = original
        forked()
        return original(*args, **kwargs)

    state['forked27'] = __gdb_memleak_forked27__
    return __gdb_memleak_forked27__


def __gdb_memleak_unguard27__(state):
    """The target's own threading._after_fork back (unless someone else's took ours' place)."""
    td, original, ours = state['after_fork']
    if td.get('_after_fork') is ours:
        td['_after_fork'] = original
    state['after_fork'] = None


def __gdb_memleak_tracer_pid__(state):
    """TracerPid in /proc/self/status (0: not traced), -1 if it cannot be read: gdb's pid while it
    runs the payload, as this process sees it (0 from a PID namespace that does not hold gdb)."""
    posix = __gdb_memleak_module__(state, 'posix')
    try:
        fd = posix.open('/proc/self/status', posix.O_RDONLY | getattr(posix, 'O_CLOEXEC', 0o2000000))
        try:
            text = posix.read(fd, 8192)
        finally:
            posix.close(fd)
        for line in text.split(b'\n'):
            if line.startswith(b'TracerPid:'):
                return int(line.split()[1])
    except Exception:
        pass
    return -1


def __gdb_memleak_put_back__(state, traps):
    """Each [address, byte] of `traps` (gdb's int3s on the dynamic linker's events, gdb's 'traps'
    argument) that holds an int3 gets its byte back, through /proc/self/mem, which writes to code as
    a debugger does; True when none holds one after (or there are none)."""
    if not traps:
        return True
    posix = __gdb_memleak_module__(state, 'posix')
    try:
        fd = posix.open('/proc/self/mem', posix.O_RDWR | getattr(posix, 'O_CLOEXEC', 0o2000000))
    except Exception:
        return False
    clear = True
    try:
        for address, byte in traps:
            try:
                posix.lseek(fd, address, 0)
                if posix.read(fd, 1) == b'\xcc':
                    posix.lseek(fd, address, 0)
                    posix.write(fd, bytearray((byte,)))
                    posix.lseek(fd, address, 0)
                    clear = clear and posix.read(fd, 1) != b'\xcc'
            except Exception:
                clear = False
    finally:
        posix.close(fd)
    return clear


__gdb_memleak_state__ = __gdb_memleak_enter__(__gdb_memleak_quiet__)
if __gdb_memleak_state__ is None:  # refused: back on, then an IndexError raised with no name looked up
    try:
        if __gdb_memleak_quiet__[2] is not None:
            __gdb_memleak_quiet__[0].settrace(__gdb_memleak_quiet__[2])
    finally:
        if __gdb_memleak_quiet__[3] is not None:
            __gdb_memleak_quiet__[0].setprofile(__gdb_memleak_quiet__[3])
    [][0]
