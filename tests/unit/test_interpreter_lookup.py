"""tests/support/interpreters.py: how the tests find their interpreters (environment, PATH, pyenv)."""

from __future__ import annotations

import os

from support import interpreters


def _executable(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_the_variable_of_a_version_comes_first(monkeypatch, tmp_path):
    mine = _executable(tmp_path / "opt" / "python3.11")
    monkeypatch.setenv("GDB_MEMLEAK_PYTHON_3_11", mine)
    monkeypatch.setenv(interpreters.LIST_ENV, _executable(tmp_path / "other" / "python3.11"))
    assert interpreters.find("3.11") == (mine, "")


def test_a_name_is_looked_up_on_path(monkeypatch, tmp_path):
    found = _executable(tmp_path / "bin" / "python3.12")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("GDB_MEMLEAK_PYTHON_3_12", "python3.12")
    assert interpreters.find("3.12") == (found, "")
    monkeypatch.setenv(interpreters.NODEBUG_ENV, "python3.12")
    assert interpreters.find_nodebug() == (found, "")


def test_the_list_gives_each_version_by_its_name(monkeypatch, tmp_path):
    py27 = _executable(tmp_path / "a" / "python2.7")
    py313 = _executable(tmp_path / "b" / "python3.13")
    monkeypatch.delenv("GDB_MEMLEAK_PYTHON_2_7", raising=False)
    monkeypatch.delenv("GDB_MEMLEAK_PYTHON_3_13", raising=False)
    monkeypatch.setenv(interpreters.LIST_ENV, os.pathsep.join([py27, py313, str(tmp_path / "c" / "python3.13")]))
    assert interpreters.find("2.7") == (py27, "")
    assert interpreters.find("3.13") == (py313, "")


def test_pyenv_s_newest_build_is_the_default(monkeypatch, tmp_path):
    for version in ("3.10.2", "3.10.13", "3.10.9"):
        _executable(tmp_path / "versions" / version / "bin" / "python3.10")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.delenv("GDB_MEMLEAK_PYTHON_3_10", raising=False)
    monkeypatch.delenv(interpreters.LIST_ENV, raising=False)
    assert interpreters.find("3.10") == (str(tmp_path / "versions" / "3.10.13" / "bin" / "python3.10"), "")


def test_a_missing_interpreter_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.delenv("GDB_MEMLEAK_PYTHON_3_9", raising=False)
    monkeypatch.delenv(interpreters.LIST_ENV, raising=False)
    path, why = interpreters.find("3.9")
    assert path == str(tmp_path / "versions" / "3.9.x" / "bin" / "python3.9")
    assert why.startswith("no CPython 3.9 at %s" % path) and "GDB_MEMLEAK_PYTHON_3_9" in why
    monkeypatch.setenv("GDB_MEMLEAK_PYTHON_3_9", str(tmp_path / "nope"))
    assert interpreters.find("3.9") == (str(tmp_path / "nope"), "no CPython 3.9 at %s ($GDB_MEMLEAK_PYTHON_3_9)" % (tmp_path / "nope"))


def test_libpython_is_beside_a_pyenv_style_bin():
    assert interpreters.libpython("/root/.pyenv/versions/3.11.7/bin/python3.11") == \
        "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"
