"""host/tools.py: where the tools prepared for one interpreter live, and how it is named."""

from __future__ import annotations

import importlib.machinery
import os
import sys

import pytest

from gdb_memleak.host import tools


@pytest.mark.parametrize("suffix, abi", [
    (".cpython-312-x86_64-linux-gnu.so", "312-x86_64-linux-gnu"),
    (".cpython-313t-x86_64-linux-gnu.so", "313t-x86_64-linux-gnu"),
    (".cpython-314d-x86_64-linux-gnu.so", "314d-x86_64-linux-gnu"),
    (".cpython-311-aarch64-linux-gnu.so", "311-aarch64-linux-gnu"),
    (".abi3.so", None),
    (".so", None),
    ("module.so", None),
    (".cpython-312-x86_64-linux-gnu.pyd", None),
])
def test_abi_from_an_extension_suffix(suffix, abi):
    assert tools.abi_from_suffix(suffix) == abi


def test_this_interpreter_s_own_suffix():
    abi = tools.abi_from_suffix(importlib.machinery.EXTENSION_SUFFIXES[0])
    assert abi is not None and abi.startswith("%d%d" % sys.version_info[:2])


def test_a_directory_per_version_and_abi(monkeypatch, tmp_path):
    monkeypatch.setenv(tools.CACHE_ENV, str(tmp_path))
    assert tools.tools_dir_name((3, 12), "312-x86_64-linux-gnu") == "cpython-3.12-312-x86_64-linux-gnu"
    assert tools.tools_dir_name((2, 7), "27-ucs4") == "cpython-2.7-27-ucs4"
    assert tools.tools_dir((3, 13), "313t-x86_64-linux-gnu") == str(tmp_path / "tools" / "cpython-3.13-313t-x86_64-linux-gnu")
    assert tools.tools_dir((3, 13), "313-x86_64-linux-gnu") != tools.tools_dir((3, 13), "313t-x86_64-linux-gnu")


def test_the_cache_root_is_read_at_each_use(monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(tools.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert tools.cache_root() == str(home / ".cache" / "gdb-memleak")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tools.cache_root() == str(tmp_path / "xdg" / "gdb-memleak")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # not absolute: ignored, as the spec says
    assert tools.cache_root() == str(home / ".cache" / "gdb-memleak")
    monkeypatch.setenv(tools.CACHE_ENV, "~/cache")
    assert tools.cache_root() == str(home / "cache")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(tools.CACHE_ENV, "rel")
    assert tools.cache_root() == str(tmp_path / "rel") and os.path.isabs(tools.cache_root())
    monkeypatch.setenv(tools.CACHE_ENV, "")  # empty: as if unset
    assert tools.cache_root() == str(home / ".cache" / "gdb-memleak")


def test_the_venv_lends_only_links_to_its_tools(tmp_path):
    """What a target of the venv's version gets on its sys.path: guppy, objgraph and the compiled
    code beside them; not the rest of site-packages (graphviz, jinja2...)."""
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    for name in ("guppy", "graphviz", "__pycache__"):
        (site / name).mkdir(parents=True)
    (site / "objgraph.py").write_text("")
    view = tools.venv_view(str(venv), str(site), (3, 11))
    assert view == str(venv / "gdb-memleak-tools" / "python3.11")
    assert sorted(os.listdir(view)) == ["__pycache__", "guppy", "objgraph.py"]
    assert os.path.realpath(os.path.join(view, "guppy")) == str(site / "guppy")
    assert tools.venv_view(str(venv), str(site), (3, 11)) == view  # made once, then used
    assert sorted(os.listdir(venv / "gdb-memleak-tools")) == ["python3.11"]  # no staging left


def test_a_venv_it_cannot_write_to_gets_its_view_in_the_cache_and_one_without_tools_nothing(tmp_path, monkeypatch):
    """A shared venv gdb-memleak cannot write to lent the target its whole site-packages (until
    2026-12-07); its view is made in the user's cache now, and only where neither can be written
    is site-packages lent."""
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "graphviz").mkdir()
    monkeypatch.setenv(tools.CACHE_ENV, str(tmp_path / "cache"))
    assert tools.venv_view(str(tmp_path / "venv"), str(site), (3, 11)) is None
    (site / "objgraph.py").write_text("")
    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    view = tools.venv_view(str(unwritable), str(site), (3, 11))
    assert view.startswith(str(tmp_path / "cache" / "views")) and view.endswith("python3.11"), view
    assert os.listdir(view) == ["objgraph.py"]
    assert os.path.realpath(os.path.join(view, "objgraph.py")) == str(site / "objgraph.py")
    assert tools.venv_view(str(unwritable), str(site), (3, 11)) == view  # made once, then used
    monkeypatch.setenv(tools.CACHE_ENV, str(unwritable / "cache"))
    assert tools.venv_view(str(unwritable), str(site), (3, 11)) == str(site)


def test_a_view_goes_where_no_fewer_users_reach_it_than_site_packages(tmp_path):
    """root's ~/.cache is 0700: a target of another user's could import from a world-readable
    site-packages but not from a view there."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert not tools._traversable_by_all(str(private / "cache" / "views"))
    assert tools._traversable_by_all("/usr/lib") and tools._traversable_by_all("/")
    assert tools._traversable_by_all("/usr/lib/no-such-directory/below")


def test_a_view_can_be_read_by_every_user(tmp_path):
    """mkdtemp's staging directory is 0700, and the view kept that mode when it was renamed: a venv set
    up by root then stopped gdb-memleak loading for any other user (a review's trial, 2026-12-07), and a
    target of another user could not import from it."""
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "objgraph.py").write_text("")
    view = tools.venv_view(str(venv), str(site), (3, 11))
    assert os.stat(view).st_mode & 0o777 == 0o755


def test_a_view_that_no_longer_matches_the_venv_is_made_again(tmp_path):
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "objgraph.py").write_text("")
    view = tools.venv_view(str(venv), str(site), (3, 11))
    assert sorted(os.listdir(view)) == ["objgraph.py"]
    (site / "guppy").mkdir()  # guppy3 installed later
    assert tools.venv_view(str(venv), str(site), (3, 11)) == view
    assert sorted(os.listdir(view)) == ["guppy", "objgraph.py"]
    assert sorted(os.listdir(venv / "gdb-memleak-tools")) == ["python3.11"]
