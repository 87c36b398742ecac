"""The boundaries of the layout (docs/how-it-works.md, "The map"), read from the source.

Unit tier: parses the files, imports nothing.
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "gdb_memleak"
GDB_SIDE = ("commands", "gdbside", "inject")  # and plugin.py


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE), ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree, path):
    """(absolute module names imported, our subpackages imported) of one file."""
    names, ours = set(), set()
    here = list(path.parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
            ours.update(a.name.split(".")[1] for a in node.names if a.name.startswith("gdb_memleak."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                if target:
                    ours.add(target[0])
                else:  # from .. import x (the package itself): x names the subpackage
                    ours.update(a.name for a in node.names)
            elif node.module:
                names.add(node.module)
                if node.module.startswith("gdb_memleak"):
                    parts = node.module.split(".")
                    ours.add(parts[1] if len(parts) > 1 else "")
    return names, ours


def test_only_the_gdb_side_imports_gdb():
    offenders = []
    for path, tree in _modules():
        names, _ = _imports(tree, path)
        if {"gdb"} & {n.split(".")[0] for n in names} and path.parts[0] not in GDB_SIDE and path.name != "plugin.py":
            offenders.append(str(path))
    assert offenders == []


def test_payloads_import_nothing_of_ours():
    offenders = [str(p) for p, tree in _modules() if p.parts[0] == "payloads" and p.name != "__init__.py" and _imports(tree, p)[1]]
    assert offenders == []


# subpackage -> the ones it may import (errors.py is a leaf everyone may use)
ALLOWED = {
    "model": set(),
    "host": set(),
    "render": {"model"},
    "payloads": set(),
    "gdbside": {"host", "model", "render"},
    "inject": {"gdbside", "host", "payloads", "model"},
    "commands": {"gdbside", "inject", "host", "model", "render"},
    "cli": {"host", "model", "render"},
}


def test_imports_flow_one_way():
    wrong = []
    for path, tree in _modules():
        layer = path.parts[0] if len(path.parts) > 1 else None
        if layer not in ALLOWED:
            continue
        _, ours = _imports(tree, path)
        # errors.py is a leaf anyone may use; __version__ is the package's own (from .. import __version__)
        extra = ours - ALLOWED[layer] - {layer, "errors", "__version__", ""}
        if extra:
            wrong.append("%s imports %s" % (path, sorted(extra)))
    assert wrong == []


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_no_module_outside_the_payloads_passes_400_lines():
    # Payloads are exempt: each is one file sent whole to the target.
    long = {}
    for path, _ in _modules():
        if path.parts[0] != "payloads":
            lines = len((PACKAGE / path).read_text(encoding="utf-8").splitlines())
            if lines > MAX_MODULE_LINES:
                long[str(path)] = lines
    assert long == {}


def test_no_function_outside_the_payloads_passes_60_lines_without_a_reason():
    # A longer one says why in a comment naming the rule ("# long: ...") on its first lines.
    long = []
    for path, tree in _modules():
        if path.parts[0] == "payloads":
            continue
        source = (PACKAGE / path).read_text(encoding="utf-8").splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                head = "\n".join(source[node.lineno - 1 : node.lineno + 5])
                if length > MAX_FUNCTION_LINES and "# long:" not in head:
                    long.append("%s:%d %s (%d lines)" % (path, node.lineno, node.name, length))
    assert long == []
