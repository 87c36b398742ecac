"""The gdb-memleak command line's arguments (cli/__init__.py build_parser and main), without gdb."""

from __future__ import annotations

import pytest

from gdb_memleak import __version__, cli


def parse(capsys, *argv: str):
    """(namespace, "") when `argv` parses, else (None, the usage error)."""
    try:
        return cli.build_parser().parse_args(list(argv)), ""
    except SystemExit as e:
        assert e.code == 2
        return None, capsys.readouterr().err


@pytest.mark.parametrize("pid", ["abc", "0", "-5", "1.5", "", "0x10"])
def test_a_bad_pid_is_a_usage_error(capsys, pid):
    args, error = parse(capsys, "report", pid, "--out", "d")
    assert args is None and "expected a process id" in error and "argument PID" in error, error


def test_a_good_report_line(capsys):
    args, _ = parse(capsys, "report", "42", "--out", "some/dir")
    assert (args.command, args.pid, args.out, args.watch) == ("report", 42, "some/dir", None)
    args, _ = parse(capsys, "report", "42", "--out", "d", "--watch", "0.5")
    assert args.watch == 0.5


@pytest.mark.parametrize("seconds", ["0.001", "1", "600", "6e2"])
def test_watch_within_bounds(capsys, seconds):
    args, error = parse(capsys, "report", "1", "--out", "d", "--watch", seconds)
    assert args is not None and args.watch == float(seconds), error


@pytest.mark.parametrize("seconds", ["0", "-1", "600.5", "601", "nan", "inf", "soon", ""])
def test_watch_out_of_bounds_is_a_usage_error(capsys, seconds):
    args, error = parse(capsys, "report", "1", "--out", "d", "--watch", seconds)
    assert args is None and "argument --watch: expected seconds" in error, error


def test_required_arguments(capsys):
    assert "the following arguments are required: --out" in parse(capsys, "report", "1")[1]
    assert "the following arguments are required: --python" in parse(capsys, "prepare")[1]
    assert "required: command" in parse(capsys)[1]
    assert "invalid choice: 'nope'" in parse(capsys, "nope")[1]


def test_version_and_gdbinit(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == "gdb-memleak " + __version__
    assert cli.main(["gdbinit"]) == 0
    assert "gdb_memleak.plugin.load" in capsys.readouterr().out


def test_main_fails_in_one_line_without_a_traceback(capsys, tmp_path, monkeypatch):
    # prepare with something that is not an interpreter: exit status 2, one line, before anything is made.
    monkeypatch.setenv("GDB_MEMLEAK_CACHE", str(tmp_path / "cache"))
    assert cli.main(["prepare", "--python", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gdb-memleak prepare: --python %s: no such file" % (tmp_path / "missing"))
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "cache").exists()


def test_report_timeout_has_the_commands_bound(capsys):
    """A user's trial: `report --timeout` stopped at 600 s where the commands' --timeout goes to a day."""
    from gdb_memleak.model.arguments import MAX_TIMEOUT

    assert cli.MAX_TIMEOUT == MAX_TIMEOUT
    args, _ = parse(capsys, "report", "42", "--out", "d", "--timeout", "86400")
    assert args.timeout == 86400
    args, error = parse(capsys, "report", "42", "--out", "d", "--timeout", "86401")
    assert args is None and "expected seconds above 0 and at most 86400, got 86401" in error, error
