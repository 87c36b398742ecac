"""py-heap --read-only --largest N: the largest objects of a read-only walk, a label each, and a path from a
module global that keeps each alive (issue 16).

The injected census searches backwards with gc.get_referrers; from memory the search goes
forwards instead: breadth first from every module's dict (sys.modules), through dict
entries, list and tuple items, and instances' attributes (their dict, values or slots),
until every target is met or a budget of objects is spent.  The shortest path found is
written as payloads/heap.py writes it: `__main__._pure_string`, `mod.cache['key'][3].attr`,
`sys.modules['os'].__dict__`.  No gdb.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Optional

from .heapclasses import DICT, INT, LIST, MODULE, SET, STR, TUPLE, TYPE, Classes, TypeInfo
from .memimage import Unreadable
from .pyobjects import Reader

MAX_NODES = 400_000  # objects looked at by one search
MAX_DEPTH = 10
MAX_ITEMS = 100_000  # items of one list or tuple looked at


class Largest:
    """The N largest objects seen, kept as a heap of (size, address, class info)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.heap: list[tuple[int, int, int]] = []
        self.infos: dict[int, TypeInfo] = {}
        self.threshold = -1 if n > 0 else 1 << 62

    def keep(self, address: int, info: TypeInfo, size: int) -> int:
        """Consider one object; returns the size an object must now exceed to be kept."""
        if size <= self.threshold:
            return self.threshold
        self.infos[id(info)] = info
        heapq.heappush(self.heap, (size, address, id(info)))
        if len(self.heap) > self.n:
            heapq.heappop(self.heap)
        if len(self.heap) == self.n:
            self.threshold = self.heap[0][0]
        return self.threshold

    def items(self) -> list[tuple[int, int, TypeInfo]]:
        return [(s, a, self.infos[i]) for s, a, i in sorted(self.heap, reverse=True)]


def label(r: Reader, info: TypeInfo, address: int) -> str:
    """A bounded label as payloads' _short gives it: a slice of a str, a container's length, else
    '<Type object at 0x..>'."""
    L = r.L
    try:
        if info.name == "str":  # 2.7's str is bytes: not the STR shape, read by its own Reader
            length = r.str_length(address)
            text = r.text(address, 41)
            if text is None:
                return "<str object at 0x%x>" % address
            if length <= 40:
                return repr(text)[:120]
            return ("%s...%s (len %d)" % (repr(text[:40])[:-1], repr(text[:1])[-1:], length))[:120]
        if info.name in ("list", "tuple"):
            return "<%s len=%d>" % (info.name, r.sword(address + L["ob_size"]))
        if info.shape == DICT and info.name == "dict (no owner)":
            return "<dict len=%d>" % r.sword(address + L["dict_used"])
        if info.shape == SET and info.name in ("set", "frozenset"):
            return "<%s len=%d>" % (info.name, r.sword(address + L["set_used"]))
    except Unreadable:
        pass
    return "<%s object at 0x%x>" % (info.name, address)


def type_name(info: TypeInfo) -> str:
    return "dict" if info.name == "dict (no owner)" else info.name


def _key_text(r: Reader, classes: Classes, key: int, attrmode: bool) -> str:
    text = r.text(key, 101)
    if text is not None:
        if attrmode:
            return "." + text[:100]
        return "[%r]" % text if len(text) <= 40 else "[%r...]" % text[:40]
    t = r.head(key)[1]
    info = classes.info(t)
    if info is not None and info.shape == INT and info.name in ("int", "bool"):
        value = r.int_value(key)
        if value is not None:
            return "[%d]" % value
    return "[<%s key>]" % (type_name(info) if info else "?")


class PathSearch:
    """Breadth first from the module dicts to the targets; `paths()` gives each target's path or None."""

    def __init__(self, r: Reader, classes: Classes, modules: int) -> None:
        self.r, self.classes, self.modules = r, classes, modules

    def paths(self, targets: list[int]) -> dict[int, Optional[str]]:
        r = self.r
        wanted = set(targets)
        found: dict[int, Optional[str]] = {}
        seen: set[int] = set()
        queue: deque = deque()
        items = r.dict_items(self.modules) if self.modules else []
        for i in range(0, len(items), 2):
            text, module = r.text(items[i], 200), items[i + 1]
            info = self.classes.info(r.head(module)[1])
            if text is None or info is None or info.shape != MODULE:
                continue
            name: str = text
            d = r.word(module + r.L["md_dict"])
            for node, path in ((module, name), (d, "sys.modules[%r].__dict__" % name)):
                if node in wanted and node not in found:
                    found[node] = path
            if d and d not in seen:
                seen.add(d)
                queue.append((d, name, True, 0))
        spent = 0
        while queue and len(found) < len(wanted) and spent < MAX_NODES:
            node, path, attrmode, depth = queue.popleft()
            spent += 1
            try:
                edges = self.edges(node, attrmode)
            except Unreadable:
                continue
            for child, step, child_attrmode, container in edges:
                if child in seen or child < 4096 or child & 7:
                    continue
                seen.add(child)
                if child in wanted:
                    found[child] = path + step
                if container and depth < MAX_DEPTH:
                    queue.append((child, path + step, child_attrmode, depth + 1))
        return {t: found.get(t) for t in targets}

    def edges(self, node: int, attrmode: bool) -> list[tuple[int, str, bool, bool]]:
        """(child, step text, whether the child's steps are attributes, whether to look inside it)."""
        r, classes = self.r, self.classes
        info = classes.info(r.head(node)[1])
        if info is None:
            return []
        out: list[tuple[int, str, bool, bool]] = []
        if info.shape == DICT:
            items = r.dict_items(node)
            for i in range(0, len(items), 2):
                out.append((items[i + 1], _key_text(r, classes, items[i], attrmode), False, self._container(items[i + 1])))
        elif info.shape in (LIST, TUPLE):
            base = r.word(node + r.L["list_items"]) if info.shape == LIST else node + r.L["tuple_items"]
            count = min(r.sword(node + r.L["ob_size"]), MAX_ITEMS)
            for i, child in enumerate(r.words(base, count)):
                out.append((child, "[%d]" % i, False, self._container(child)))
        elif info.owner_kind is not None or info.slots:
            out.extend(self._attributes(node, info))
        return out

    def _container(self, address: int) -> bool:
        try:
            info = self.classes.info(self.r.head(address)[1])
        except Unreadable:
            return False
        if info is None or info.shape in (STR, INT, TYPE, MODULE):
            return False
        return info.shape in (DICT, LIST, TUPLE) or info.owner_kind is not None or bool(info.slots)

    def _attributes(self, node: int, info: TypeInfo) -> list[tuple[int, str, bool, bool]]:
        """An instance's attributes: its __dict__'s entries (as attributes), or its values, and its slots."""
        r = self.r
        out: list[tuple[int, str, bool, bool]] = []
        for name, offset in info.slot_names:
            child = r.word(node + offset)
            out.append((child, "." + name, False, self._container(child)))
        items = self.classes.instance_items(node, info)
        for i in range(0, len(items), 2):
            key = r.text(items[i], 100)
            if key is not None:
                out.append((items[i + 1], "." + key, False, self._container(items[i + 1])))
        return out


def largest_document(r: Reader, classes: Classes, roots: dict[str, Any], largest: Largest) -> list[dict[str, Any]]:
    """The document's `largest` rows: type, size, label and path (None where none was found)."""
    items = largest.items()
    paths = PathSearch(r, classes, roots.get("modules") or 0).paths([a for _, a, _ in items]) if items else {}
    # Retained sizes are measured in the target only (payloads/_gdb_memleak_retained.py).
    return [{"type": type_name(info), "size": size, "repr": label(r, info, a), "path": paths.get(a),
             "retained": None, "retained_objects": None, "retained_complete": False, "items": None,
             "inside": [], "unowned": False}
            for size, a, info in items]
