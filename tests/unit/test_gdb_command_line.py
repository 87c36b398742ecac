"""The pid gdb's own command line attaches to, as gdb reads it (gdb/main.c): the plugin prepares for
that attach before it happens, and keeps it (docs/how-it-works.md, "Before the attach")."""

import pytest

from gdb_memleak.host.gdb_command_line import names_a_program, pid_to_attach

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
    ("gdb python3 012", None),  # gdb reads it as octal (10): not guessed at
    ("gdb -p 0x1f", None),
    ("gdb python3 \u0661\u0662", None),  # not a digit to gdb's isdigit: a core file's name
    ("gdb -c core -p 21", None),  # gdb refuses both
    ("gdb -ex  22 python3 23", None),  # an empty -ex keeps its place: 22 is the program
    ("gdb -- python3 24", 24),
    ("gdb -p  python3 27", None),  # an empty -p: gdb fails to attach to it, and never tries 27
    ("/x/ld-linux-x86-64.so.2 --library-path /x /x/gdb --data-directory /d -batch -p 29", 29),  # through the loader
])
def test_the_pid_of_gdb_s_command_line(argv, pid):
    assert pid_to_attach(argv.split(" ")) == pid


@pytest.mark.parametrize("argv,named", [
    ("gdb -p 12", False), ("gdb python3 12", True), ("gdb -e python3 -p 12", True), ("gdb -se=python3 -p 12", True),
    ("gdb -symbols python3 -p 12", True), ("gdb -sym python3 -p 12", True),  # (not known: as if named)
])
def test_whether_gdb_s_command_line_names_a_program(argv, named):
    assert names_a_program(argv.split(" ")) is named


def test_posixly_correct_stops_the_options_at_the_program(monkeypatch):
    monkeypatch.setenv("POSIXLY_CORRECT", "1")
    assert pid_to_attach("gdb python3 25 -p 26".split()) == 25
    assert pid_to_attach("gdb python3 -- 28".split()) is None  # "--" is the core file's name then


def test_the_commands_of_gdb_s_command_line_in_order(monkeypatch):
    from gdb_memleak.host import gdb_command_line

    monkeypatch.setattr(gdb_command_line, "gdb_arguments",
                        lambda: ["gdb", "-iex", "attach 5", "-ex", "py-heap --top 3", "--eval-command=attach 7", "-ex"])
    assert gdb_command_line.commands() == ["py-heap --top 3", "attach 7"]
    assert gdb_command_line.commands(("ex", "eval-command", "iex")) == ["attach 5", "py-heap --top 3", "attach 7"]
    assert gdb_command_line.first_command() == "py-heap --top 3"
