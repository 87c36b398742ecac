"""The pid gdb's own command line attaches to, as gdb reads it (gdb/main.c): the plugin prepares for
that attach before it happens, and keeps it (docs/how-it-works.md, "Before the attach")."""

import pytest

from gdb_memleak.host.gdb_command_line import pid_to_attach

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("argv,pid", [
    ("gdb -p 12", 12),
    ("gdb --pid=13", 13),
    ("gdb -pid 14 -ex py-heap", 14),
    ("gdb -p 1 -p 20", 20),  # gdb keeps the last
    ("gdb -batch -nx -ix gdbinit.example python3 15 -ex py-heap", 15),  # gdb PROGRAM PID
    ("gdb -q -x init.gdb -cd=/ python3 16", 16),
    ("gdb python3 core.1", None),  # a core file
    ("gdb -c core python3 17", None),
    ("gdb --args python3 18", None),  # the program's own arguments
    ("gdb -ex x python3", None),
    ("gdb python3", None),
    ("gdb -sym x python3 19", None),  # an abbreviation gdb accepts: not guessed at
    ("gdb -p", None),
])
def test_the_pid_of_gdb_s_command_line(argv, pid):
    assert pid_to_attach(argv.split()) == pid
