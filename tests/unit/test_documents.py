"""The document declarations (model/documents.py) and the shipped JSON Schemas say the same thing.

Unit tier: no gdb, no target.
"""

import typing

import pytest

from gdb_memleak.model import documents, schemas

pytestmark = pytest.mark.unit

DEFS = {"memtop": "memtop", "memtop.watch_stop": "watch_stop",
        "heap": "partition", "heap.since": "since", "heap.mark": "mark", "heap.marks": "marks", "heap.dropped": "dropped"}


def _schema_object(kind: str) -> dict:
    schema = schemas.load(documents.KINDS[kind])
    return schema["$defs"][DEFS[kind]] if kind in DEFS else schema


@pytest.mark.parametrize("kind", sorted(documents.DECLARATIONS))
def test_each_declaration_matches_its_schema(kind):
    declared = documents.DECLARATIONS[kind]
    schema = _schema_object(kind)
    fields = set(typing.get_type_hints(declared))
    assert fields == set(schema["properties"]), kind
    assert set(declared.__required_keys__) == set(schema["required"]), kind
    assert schema["properties"]["kind"] == {"const": kind, "description": schema["properties"]["kind"]["description"]}


def test_every_kind_has_a_schema_and_a_declaration():
    assert set(documents.KINDS) == set(documents.DECLARATIONS) | {"report"}
    for kind, name in documents.KINDS.items():
        assert name in schemas.NAMES, kind


def test_envelope_puts_kind_version_and_notes_first_and_refuses_unknown_kinds():
    doc = documents.envelope("heap.dropped", {"dropped": "a"}, ["x"])
    assert list(doc) == ["kind", "schema_version", "notes", "dropped"]
    schemas.validator("heap").validate(doc)
    with pytest.raises(ValueError):
        documents.envelope("heap.nothing", {}, [])
