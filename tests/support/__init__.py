"""What the tests share: where things are, the interpreters, targets, heartbeats, gdb and the CLI.

Modules (test modules import from these, never from one another):

- ``paths``: the checkout's directories and files (examples/, tests/targets/,
  gdbinit.example, .venv, .roots), and ``need`` (skip unless paths exist).
- ``interpreters``: the target interpreters, found as below.
- ``targets``: the target scripts, ``Target`` (a process with a ready handshake
  and a heartbeat, ended by its pid), ``RootTarget`` (run in the forky root),
  ``Processes`` (everything a test started, ended at its end) and ``script_line``.
- ``heartbeat``: reading a target's "tick ..." lines (one reader thread per
  target, in ``Target``) and what the tests check in them.
- ``gdb``: the one gdb launcher (``gdb_argv``, ``run_gdb``, ``start_gdb``,
  ``run_gdb_on_a_terminal``), ``GdbRun`` and ``assert_no_traceback``.
- ``cli``: the ``gdb-memleak`` command line (report, prepare).
- ``png``: ``is_png``.

Interpreters.  Each is found by the first of:

1. ``GDB_MEMLEAK_PYTHON_X_Y`` (e.g. ``GDB_MEMLEAK_PYTHON_3_11=/opt/py311/bin/python3.11``):
   the interpreter for CPython X.Y, a path or a command name looked up on PATH;
2. ``GDB_MEMLEAK_PYTHONS``: a list of interpreters separated by ``:`` (paths or
   names on PATH), each standing for the version its name ends with
   (``.../python3.12`` for 3.12; the first one of a version counts);
3. the default, pyenv's newest build of that version:
   ``$PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y`` (``PYENV_ROOT`` defaults to /root/.pyenv).

These are the interpreters "with debug info": the tests expect their libpython
helper (``pythonX.Y-gdb.py``) beside them, as pyenv builds have it.  The one
without debug info is ``GDB_MEMLEAK_PYTHON_NODEBUG`` (a path or a name on
PATH; default Debian's /usr/bin/python3.11).  A test whose interpreter is
missing skips and says which it looked for.  Versions used: 2.7, 3.6 to 3.13.

gdb: ``GDB_MEMLEAK_GDB`` chooses it for every launch (default: gdb on PATH),
e.g. .roots/bin/gdb-18.
"""
