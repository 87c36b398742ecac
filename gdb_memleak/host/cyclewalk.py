"""py-cycles --read-only: the objects that live only in reference cycles, found in a memory image (issue 16).

The collector's own reasoning, on what the image holds, nothing run in the target:
  1. every tracked object, from the collector's generation lists (host/heapwalk.py's ring walk);
  2. its references to other tracked objects, read as the heap walk reads them (the
     core containers, instances, the C structs the gdb side lists) plus an instance's
     reference to its heap class; each one subtracted from the referent's count;
  3. an object whose reference count is not used up by those is referred to from
     outside the tracked objects (C globals, the stacks, untracked objects' owners):
     a root.  What the roots reach is alive; what they do not is cyclic garbage;
  4. its strongly connected components, grouped by the kinds of their members, as
     payloads/cycles.py groups them.
A reference of a class the walk cannot read is never subtracted, so its referent
counts as a root: what cannot be read errs towards "alive", never towards a cycle
that is not there.  A count that goes below zero (a reference counted twice) makes
its object a root too.  No gdb.
"""

from __future__ import annotations

import time
from array import array
from typing import Any, Optional

from .heapclasses import DICT, FIELDS, LIST, TUPLE, TypeInfo, _try
from .heappaths import PathSearch, label, type_name
from .heapwalk import HeapWalk, WalkError
from .memimage import Unreadable
from .pyobjects import Reader

MAX_STEPS = 24  # steps of a cycle path shown, as payloads/cycles.py
MAX_TYPES = 20  # type names listed per group
GRAPH_MEMBERS = 60  # members of each of the top three cycles drawn
GRAPH_GROUPS = 3


class CycleWalk(HeapWalk):
    """The tracked objects (addresses and classes, by position) and the references among them (as positions).

    Memory per tracked object, measured (docs/how-it-works.md): the address index (a dict entry and two
    ints) and six words of arrays; sizes are measured again for the objects found in cycles only."""

    def __init__(self, reader: Reader, roots: dict[str, Any]) -> None:
        super().__init__(reader, roots)
        self.addrs = array("Q")
        self.infos: list[TypeInfo] = []
        self.index: dict[int, int] = {}
        self.starts = array("q", [0])  # the references of object i: targets[starts[i]:starts[i + 1]]
        self.targets = array("q")
        self.outside = array("q")  # reference count less the references from tracked objects
        self.unread = 0  # objects whose references could not be read (roots, then)
        self.overcounted = 0  # objects with more references found than their count (roots, then)
        self._sizes: dict[int, int] = {}

    def _visit(self, a: int, info: TypeInfo, size: int) -> None:  # the ring walk's callback: collect only
        self.addrs.append(a)
        self.infos.append(info)

    def run(self, deadline: Optional[float] = None) -> None:
        super().run(deadline)
        self.index = {a: i for i, a in enumerate(self.addrs)}
        self._link(deadline)

    def _link(self, deadline: Optional[float]) -> None:
        r, index, todo, spans, infos = self.r, self.index, self.todo, self.spans, self.infos
        targets, starts = self.targets, self.starts
        outside = self.outside = array("q", bytes(8 * len(self.addrs)))
        for i, a in enumerate(self.addrs):
            if deadline is not None and not i & 0xFFFF and time.monotonic() > deadline:
                raise WalkError("the walk took longer than its time limit")
            del todo[:]
            del spans[:]
            try:
                refcnt, cls, size = r.head(a)
                self.measure(a, infos[i], size)
                while spans:
                    base, count = spans.pop()
                    todo.extend(r.words(base, count))
                todo.append(cls)  # an instance holds its heap class (a static class is not tracked)
            except Unreadable:
                self.unread += 1
                refcnt = 1 << 40  # a root: its references are not known
                del todo[:]
            outside[i] += refcnt
            for x in todo:
                j = index.get(x)
                if j is not None:
                    targets.append(j)
                    outside[j] -= 1
            starts.append(len(targets))
        del todo[:]
        self.overcounted = sum(1 for x in outside if x < 0)

    def size(self, i: int) -> int:
        """sys.getsizeof of tracked object i (measured again: kept for the objects in cycles only)."""
        found = self._sizes.get(i)
        if found is None:
            info, a = self.infos[i], self.addrs[i]
            try:
                found = self.measure(a, info, self.r.head(a)[2]) + info.presize
            except Unreadable:
                found = info.basic + info.presize
            del self.todo[:]
            del self.spans[:]
            self._sizes[i] = found
        return found

    # ------------------------------------------------------------ reachability
    def unreachable(self) -> list[int]:
        """Indices of the tracked objects no root reaches."""
        targets, starts = self.targets, self.starts
        reached = bytearray(len(self.addrs))
        for root, outside in enumerate(self.outside):
            if not outside or reached[root]:
                continue
            reached[root] = 1
            stack = [root]  # depth first from each root in turn: the stack holds a path's frontier, not every root
            while stack:
                i = stack.pop()
                for j in targets[starts[i]:starts[i + 1]]:
                    if not reached[j]:
                        reached[j] = 1
                        stack.append(j)
        return [i for i, seen in enumerate(reached) if not seen]

    def successors(self, i: int, among: Any) -> list[int]:
        return [j for j in self.targets[self.starts[i]:self.starts[i + 1]] if j in among]


def components(walk: CycleWalk, nodes: list[int]) -> list[list[int]]:
    """The strongly connected components among `nodes` that are cycles (more than one object, or one that
    refers to itself): Kosaraju's two passes, iterative, on the subgraph."""
    among = set(nodes)
    succ = {i: walk.successors(i, among) for i in nodes}
    pred: dict[int, list[int]] = {i: [] for i in nodes}
    for i, js in succ.items():
        for j in js:
            pred[j].append(i)
    order: list[int] = []
    done: set[int] = set()
    for start in nodes:  # pass 1: the order in which depth-first searches finish
        if start in done:
            continue
        done.add(start)
        stack = [(start, iter(succ[start]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                if w not in done:
                    done.add(w)
                    stack.append((w, iter(succ[w])))
                    break
            else:
                stack.pop()
                order.append(v)
    owner: dict[int, int] = {}
    out = []
    for start in reversed(order):  # pass 2: on the reversed graph, latest finish first
        if start in owner:
            continue
        comp, pending = [], [start]
        owner[start] = start
        while pending:
            v = pending.pop()
            comp.append(v)
            for w in pred[v]:
                if w not in owner:
                    owner[w] = start
                    pending.append(w)
        if len(comp) > 1 or comp[0] in succ[comp[0]]:
            out.append(comp)
    return out


class Groups:
    """Cycle components grouped by the kinds of their members (an instance's own __dict__ left out), each
    group with a readable path around one of its cycles."""

    def __init__(self, walk: CycleWalk, want: list[str]) -> None:
        self.walk, self.r = walk, walk.r
        self.want = set(want)
        self.paths = PathSearch(walk.r, walk.classes, 0)

    def short(self, i: int) -> str:
        """A class's short name, as payloads' _short_tname: a heap class's __qualname__, else the kind."""
        info = self.walk.infos[i]
        if info.heap:
            try:
                cls = self.r.head(self.walk.addrs[i])[1]
                qual = self.r.text(self.r.word(cls + self.r.L["ht_qualname"]))
            except Unreadable:
                qual = None
            if qual:
                return qual
        return type_name(info)

    def instance_dicts(self, comp: list[int]) -> set[int]:
        walk, out = self.walk, set()
        for i in comp:
            info = walk.infos[i]
            if info.owner_kind is not None:
                try:
                    d = walk.classes.instance_dict(walk.addrs[i], info)
                except Unreadable:
                    continue
                j = walk.index.get(d) if d else None
                if j is not None:
                    out.add(j)
        return out

    def group(self, comps: list[list[int]], top: int) -> list[dict[str, Any]]:
        walk = self.walk
        groups: dict[tuple[str, ...], dict[str, Any]] = {}
        for comp in comps:
            dicts = self.instance_dicts(comp)
            members = [i for i in comp if i not in dicts]
            names = [type_name(walk.infos[i]) for i in members]
            if self.want and not any(n in self.want or self.short(i) in self.want for n, i in zip(names, members)):
                continue
            shape = tuple(sorted(names))
            g = groups.get(shape)
            if g is None:
                kinds = sorted(set(names))
                if len(kinds) > MAX_TYPES:
                    kinds = kinds[:MAX_TYPES] + ["... %d more types" % (len(kinds) - MAX_TYPES)]
                g = groups[shape] = {"types": kinds, "count": 0, "objects": 0, "size": 0, "_rep": comp, "_dicts": dicts}
            g["count"] += 1
            g["objects"] += len(comp)
            g["size"] += sum(walk.size(i) for i in comp)
        ordered = sorted(groups.values(), key=lambda g: (-g["size"], g["types"]))
        for g in ordered[:top]:
            g["path"] = self.path(g["_rep"], g["_dicts"])
        return ordered

    def _start(self, comp: list[int], dicts: set[int]) -> int:
        def rank(i: int) -> tuple[int, int, str]:
            info = self.walk.infos[i]
            named = type_name(info) in self.want or self.short(i) in self.want
            return (0 if named else 1, 0 if info.owner_kind is not None else 1, type_name(info))
        return min((i for i in comp if i not in dicts), key=rank, default=comp[0])

    def path(self, comp: list[int], dicts: set[int]) -> str:
        """'ObjectA.b -> ObjectB.a -> ObjectA': the shortest way round from a preferred member back to it."""
        walk, among = self.walk, set(comp)
        start = self._start(comp, dicts)
        prev: dict[int, int] = {}
        queue, qi, last = [start], 0, None
        while qi < len(queue) and last is None:
            v = queue[qi]
            qi += 1
            for w in walk.successors(v, among):
                if w == start:
                    last = v
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        if last is None:
            return self.short(start)
        chain = [start]
        v = last
        while v != start:
            chain.append(v)
            v = prev[v]
        chain.append(start)
        chain.reverse()
        return self._text(chain, dicts)

    def _text(self, chain: list[int], dicts: set[int]) -> str:
        more = max(0, len(chain) - 1 - MAX_STEPS)
        shown = chain[:MAX_STEPS + 1]
        text, attrmode = self.short(shown[0]), False
        for p, c in zip(shown, shown[1:]):
            if c in dicts and self.walk.infos[p].owner_kind is not None:
                attrmode = True  # an instance's own __dict__: its keys are the instance's attributes
                continue
            text += self.step(p, c, attrmode) + " -> " + self.short(c)
            attrmode = False
        if more:
            text += " -> ... (%d more steps back to %s)" % (more, self.short(chain[0]))
        return text

    def step(self, p: int, c: int, attrmode: bool) -> str:
        """How object p refers to object c: '.name', "['key']", '[3]', or '' where it is not read."""
        walk = self.walk
        info = walk.infos[p]
        if info.shape == FIELDS:
            for offset, name in info.field_names.items():
                if _try(self.r.word, walk.addrs[p] + offset) == walk.addrs[c]:
                    return "." + name
        if info.shape not in (DICT, LIST, TUPLE) and info.owner_kind is None and not info.slots:
            return ""
        try:
            for child, text, _, _ in self.paths.edges(walk.addrs[p], attrmode):
                if child == walk.addrs[c]:
                    return text
        except Unreadable:
            pass
        return ""

    def graph(self, groups: list[dict[str, Any]]) -> str:
        """The dot source of the top cycles: their members (red) and the references among them."""
        walk = self.walk
        lines = ["digraph ObjectGraph {", "  node[shape=box, style=filled, fillcolor=white];"]
        drawn: set[int] = set()
        for g in groups[:GRAPH_GROUPS]:
            among = set(g["_rep"])
            for i in g["_rep"][:GRAPH_MEMBERS]:
                if i not in drawn:
                    drawn.add(i)
                    text = self.short(i) + "\n" + label(self.r, walk.infos[i], walk.addrs[i])
                    lines.append('  o%d[label="%s", fontcolor=red];' % (walk.addrs[i], _dot_quote(text)))
                for j in walk.successors(i, among):
                    step = "__dict__" if j in g["_dicts"] else self.step(i, j, True).lstrip(".")[:40]
                    lines.append('  o%d -> o%d [label="%s"];' % (walk.addrs[i], walk.addrs[j], _dot_quote(step)))
        lines.append("}")
        return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def public(groups: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    return [{"types": g["types"], "path": g["path"], "count": g["count"], "objects": g["objects"], "size": g["size"]}
            for g in groups[:top]]


def uncollectable(walk: CycleWalk, want: list[str], top: int) -> tuple[dict[str, Any], list[dict[str, Any]], Groups]:
    """gc.garbage read from the interpreter's collector state: its kinds and the cycles among its objects."""
    r, garbage = walk.r, walk.roots.get("garbage") or 0
    items: list[int] = []
    if garbage:
        try:
            if r.head(garbage)[1] == r.L["type_list"]:
                n = r.sword(garbage + r.L["ob_size"])
                items = list(r.words(r.word(garbage + r.L["list_items"]), n)) if 0 < n < 1 << 24 else []
        except Unreadable:
            items = []
    kinds: dict[str, int] = {}
    nodes: list[int] = []
    for a in items:
        i = walk.index.get(a)
        info = walk.infos[i] if i is not None else walk.classes.info(_try(lambda x: r.head(x)[1], a) or 0)
        name = type_name(info) if info is not None else "?"
        kinds[name] = kinds.get(name, 0) + 1
        if i is not None:
            nodes.append(i)
    groups = Groups(walk, want)
    nodes.extend(groups.instance_dicts(nodes))
    found = groups.group(components(walk, sorted(set(nodes))), top)
    rows: list[dict[str, Any]] = [{"kind": k, "count": c} for k, c in sorted(kinds.items(), key=lambda kc: (-kc[1], kc[0]))[:100]]
    return ({"count": len(items), "size": sum(walk.size(i) for i in set(nodes)), "rows": rows,
             "cycles": public(found, top)}, found, groups)


def find(reader: Reader, roots: dict[str, Any], want: list[str], top: int, graph: bool,
         deadline: Optional[float] = None) -> dict[str, Any]:
    """The cycles document's body (model/documents.py Cycles) from the image, with the walk's counts."""
    walk = CycleWalk(reader, roots)
    walk.run(deadline)
    dead = walk.unreachable()
    groups = Groups(walk, want)
    found = groups.group(components(walk, dead), top)
    garbage, ufound, ugroups = uncollectable(walk, want, top)
    dot = None
    if graph and found:
        dot = groups.graph(found)
    elif graph and ufound:
        dot = ugroups.graph(ufound)
    return {
        "cycles": public(found, top),
        "total_objects": len(dead),
        "total_size": sum(walk.size(i) for i in dead),
        "uncollectable": garbage,
        "graph": dot,
        "graph_note": ("read from memory: the graph shows the members of the top cycles and the references among "
                       "them (objgraph runs only in the target)") if dot else None,
        "backend": "memory",
        "walk": {"tracked": len(walk.addrs), "references": len(walk.targets), "roots": sum(1 for x in walk.outside if x),
                 "unread": walk.unread, "overcounted": walk.overcounted, "blocks_read": reader.image.reads},
        "unknown_types": _unknown(walk, want),
    }


def _unknown(walk: CycleWalk, want: list[str]) -> list[str]:
    """The names in `want` that no class met names, fully or by its last part (a __qualname__ is longer)."""
    names: set[str] = set()
    for info in walk.types.values():
        if info is not None:
            names.add(type_name(info))
            names.add(info.name.rsplit(".", 1)[-1])
    return [w for w in want if w not in names and not any(n.endswith("." + w) for n in names)]
