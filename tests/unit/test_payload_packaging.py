"""gdb_memleak/payloads: what the injector sends compiles on every interpreter, and imports nothing of ours."""

from __future__ import annotations

import ast
import json
import os
import subprocess

import pytest
from support.interpreters import ALL_INTERPRETERS

from gdb_memleak import payloads

NAMES = sorted(f[:-3] for f in os.listdir(payloads.PAYLOAD_DIR) if f.endswith(".py") and not f.startswith("_"))


def sent(name: str) -> str:
    """The text the injector sends for payload `name`, but the one line that calls the runner."""
    return payloads.payload_source(name) + "\n" + payloads.payload_source(payloads.RUNNER)


def test_the_payloads_are_there():
    assert {"heap", "cycles", "memtop", "watch", "marks"} <= set(NAMES)
    assert set(payloads.MANIFEST) == set(NAMES)  # every payload file has its manifest entry, and no more
    assert [p.name for p in payloads.MANIFEST.values() if not p.routed] == ["watch"]


@pytest.mark.parametrize("name", NAMES)
def test_each_payload_compiles_and_defines_its_entry_point(name):
    source = sent(name)
    code = compile(source, "<%s>" % name, "exec")
    assert code is not None
    entry = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "gdb_memleak_payload"]
    assert len(entry) == 1
    helpers = payloads.MANIFEST[name].helpers
    if helpers:
        assert payloads.payload_source(name).startswith("".join(payloads.payload_source(h) + "\n" for h in helpers))
    else:
        assert payloads.payload_source(name) == open(payloads.payload_path(name), encoding="utf-8").read()


@pytest.mark.parametrize("name", NAMES + [payloads.QUIET, payloads.COMMON, payloads.MARKS, payloads.RUNNER])
def test_payloads_import_nothing_of_ours(name):
    """Payloads run in the target with the standard library only: never gdb, never gdb_memleak."""
    tree = ast.parse(open(payloads.payload_path(name), encoding="utf-8").read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in %s" % name
            imported.add(node.module.split(".")[0])
    assert not imported & {"gdb", "gdb_memleak"}, imported


COMPILE_ALL = """
import json, sys
failed = {}
for name, source in json.loads(sys.stdin.read()).items():
    try:
        compile(source, name, "exec")
    except SyntaxError as e:
        failed[name] = "line %s: %s" % (e.lineno, e.msg)
print(json.dumps(failed))
"""


@pytest.mark.parametrize("python", ALL_INTERPRETERS)
def test_what_is_sent_compiles_on_every_interpreter(python):
    """The payloads are compiled by the target's own interpreter: 2.7 and 3.6 to 3.13 alike."""
    sources = json.dumps({name: sent(name) for name in NAMES})
    proc = subprocess.run([python, "-c", COMPILE_ALL], input=sources, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {}


# Called only on the standalone path (a payload run as `python FILE`), or never called (__import__:
# the quiet block does not import through it); module attributes, not builtins.
NOT_CHECKED = {"__import__", "__doc__", "__name__", "compile", "exec", "open", "print"}


def test_the_quiet_block_checks_every_builtin_a_payload_uses():
    import builtins

    used = set()

    def names(code):
        used.update(code.co_names)
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                names(const)

    for name in os.listdir(payloads.PAYLOAD_DIR):
        if name.endswith(".py") and name != "__init__.py":
            names(compile(payloads.payload_source(name[:-3]), name, "exec"))
    checked = {}
    exec(compile(payloads.payload_source(payloads.QUIET).split("\ndef __gdb_memleak_replaced__")[0], "quiet", "exec"), checked)
    assert (used & set(dir(builtins))) - NOT_CHECKED <= set(checked["__gdb_memleak_builtins__"])


def test_the_quiet_block_leaves_its_refusal_where_the_injector_reads_the_answer():
    from gdb_memleak.inject.packaging import RESULT_NAME

    assert "g['%s'] = (" % RESULT_NAME in payloads.payload_source(payloads.QUIET)


def test_precompiled_by_the_process_interpreter_in_the_background():
    """packaging.Precompiling: marshalled code from /proc/PID/exe (this test's own interpreter),
    done() once the child has answered; None for another version or a program not named python*."""
    import marshal
    import sys

    from gdb_memleak.inject import packaging

    compiling = packaging.Precompiling("x = 6 * 7\n", os.getpid(), sys.version_info[:2])
    code = compiling.result()
    assert compiling.done() and code is not None
    namespace: dict = {}
    exec(marshal.loads(code), namespace)
    assert namespace["x"] == 42
    assert packaging.Precompiling("x = 1\n", os.getpid(), (2, 6)).result() is None
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        other = packaging.Precompiling("x = 1\n", sleeper.pid, sys.version_info[:2])
        assert other.done() and other.result() is None  # never started: not a python binary
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_quiet_block_reads_the_name_gdb_marks_its_gc_pause_with():
    """gdb says it paused gc under evaluation.GC_PAUSED_NAME; under another name the quiet block would
    take gc for paused by the target, and a child forked meanwhile would keep it paused."""
    from gdb_memleak import payloads
    from gdb_memleak.inject.packaging import GC_PAUSED_NAME

    assert "d.get(g, '%s')" % GC_PAUSED_NAME in payloads.payload_source(payloads.QUIET)


def test_the_quiet_block_reads_the_name_gdb_marks_its_untraced_thread_with():
    """gdb says it marked the payload's thread as tracing under packaging.UNTRACED_NAME; under another
    name the quiet block would switch the thread's trace and profile functions off and on again (an
    audit event each, and on 3.12+ every code object's instrumentation redone)."""
    from gdb_memleak import payloads
    from gdb_memleak.inject.packaging import UNTRACED_NAME

    assert "d.get(g, '%s')" % UNTRACED_NAME in payloads.payload_source(payloads.QUIET)


FIRST_CODE = r"""
import json, sys
code = compile(sys.stdin.read(), "<string>", "exec")
print(json.dumps([c.co_name for c in code.co_consts if type(c) is type(code)][:1]))
"""


@pytest.mark.parametrize("python", ALL_INTERPRETERS)
def test_the_fork_handler_is_the_first_code_object_among_a_payload_s_constants(python):
    """gdb takes the handler of its fork guard from the payload's loaded module code, the first code
    object among its constants (inject/fork_handler.py): the quiet block's first statement, for every
    payload, compiled whole or statement by statement (packaging.statement_by_statement)."""
    from gdb_memleak.inject import packaging

    for name in NAMES:
        full = packaging.full_source(payloads.payload_source(name), {}, [])
        for text in (full, packaging.statement_by_statement(full)):
            proc = subprocess.run([python, "-c", FIRST_CODE], input=text, capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
            assert json.loads(proc.stdout) == [packaging.FORK_HANDLER_NAME], name
