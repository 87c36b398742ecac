"""The JSON contract (issue 6): every --json document validates against gdb_memleak/model/schemas/*.schema.json."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from support.gdb import assert_no_traceback, run_gdb
from support.interpreters import INTERPRETERS
from support.paths import REPO
from support.targets import SEED_CYCLES

from gdb_memleak.model import schemas


@pytest.mark.unit
def test_schemas_are_valid_shipped_and_documented():
    setup = (REPO / "setup.py").read_text()
    assert '"gdb_memleak.model.schemas": ["*.schema.json"]' in setup and '"jsonschema"' in setup
    doc = (REPO / "docs" / "json.md").read_text()
    for name in schemas.NAMES:
        schema = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert "gdb_memleak/model/schemas/%s.schema.json" % name in doc
    assert "schema_version" in doc


@pytest.mark.parametrize("python", INTERPRETERS)
def test_every_command_output_validates(start_target, python, tmp_path):
    target = start_target(python, SEED_CYCLES, "2000")
    commands = [
        ("memtop", "py-memtop --json"),
        ("memtop", "py-memtop --json --stack 2 --watch 1"),
        ("heap", "py-heap --json"),
        ("heap", "py-heap --json --largest 3 --top 4"),
        ("heap", "py-heap --json --mark m1"),
        ("heap", "py-heap --json --since m1"),
        ("heap", "py-heap --json --marks"),
        ("heap", "py-heap --json --drop-mark m1"),
        ("cycles", "py-cycles --json"),
        ("cycles", "py-cycles --json ObjectA --graph %s" % (tmp_path / "g.svg")),
        ("cycles", "py-cycles --json --mark c1"),
        ("cycles", "py-cycles --json --since c1"),
    ]
    run = run_gdb(*(c for _, c in commands), pid=target.pid, timeout=300)
    assert_no_traceback(run)
    docs = run.json_documents()
    assert len(docs) == len(commands), run.stderr
    validators = {name: schemas.validator(name) for name in ("memtop", "heap", "cycles")}
    for (name, command), doc in zip(commands, docs):
        errors = [e.message for e in validators[name].iter_errors(doc)]
        assert not errors, "%s: %s" % (command, errors[:5])
        assert doc["schema_version"] == 1, command
    watched, heap_largest, since, cycles_since = docs[1], docs[3], docs[5], docs[11]
    assert "growth" in watched and all("cpu_window_seconds" in t for t in watched["threads"])
    assert len(heap_largest["largest"]) == 3
    assert since["since"] == "m1" and cycles_since["since"] == "c1"
    assert docs[9]["graph"] == str(tmp_path / "g.svg")
    assert target.wait_for_ticks(1)


def test_the_schemas_are_not_vacuous(start_target):
    """A document with a field missing or of the wrong type fails; extra fields pass (payloads may add some)."""
    target = start_target(INTERPRETERS[0].values[0], SEED_CYCLES, "500")
    run = run_gdb("py-memtop --json", "py-heap --json --largest 1", "py-cycles --json", pid=target.pid)
    assert_no_traceback(run)
    for name, doc in zip(("memtop", "heap", "cycles"), run.json_documents()):
        validator = schemas.validator(name)
        validator.validate(dict(doc, something_new=1))
        for field in ("schema_version", next(k for k in doc if k != "schema_version")):
            broken = copy.deepcopy(doc)
            del broken[field]
            assert not validator.is_valid(broken), (name, field)
        broken = dict(doc, schema_version="1")
        assert not validator.is_valid(broken), name
    assert target.wait_for_ticks(1)
