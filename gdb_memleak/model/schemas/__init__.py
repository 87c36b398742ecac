"""JSON Schemas (draft 2020-12) of the --json documents and of a report's report.json.

memtop.schema.json (py-memtop, and --watch-stop), heap.schema.json (every py-heap document: the partition,
--since, --mark, --marks, --drop-mark), cycles.schema.json and report.schema.json.
Each document carries "schema_version" (report.json: "version"); it changes only
when a change would break a reader.  Fields beyond the listed ones may appear.
"""

from __future__ import annotations

import json
import os

NAMES = ("memtop", "heap", "cycles", "report")
HERE = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
    return os.path.join(HERE, "%s.schema.json" % name)


def load(name: str) -> dict:
    with open(path(name), encoding="utf-8") as f:
        return json.load(f)


def validator(name: str):
    """A jsonschema validator for `name` that resolves the references between these schemas (needs jsonschema)."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = {n: load(n) for n in NAMES}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    cls = jsonschema.validators.validator_for(schemas[name])
    cls.check_schema(schemas[name])
    return cls(schemas[name], registry=registry)
