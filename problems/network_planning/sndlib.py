"""Import an SNDlib *native* format file as a ``network-planning@1`` instance.

SNDlib (S. Orlowski, R. Wessäly, M. Pióro, A. Tomaszewski, "SNDlib 1.0 - Survivable
Network Design Library", Networks 55(3), 2010; https://sndlib.zib.de) publishes network
design instances in a plain-text "native" format. No Python library reads it, so this
module has its own small tokenizer and parser. The format, as read here::

    ?SNDlib native format; type: network; version: 1.0      (header line, optional)
    # network abilene                                       (names the network)
    META (
      unit = MBITPERSEC                                      (key = value lines)
    )
    NODES (
      <node_id> ( <x> <y> )                                  (coordinates optional)
    )
    LINKS (
      <link_id> ( <source> <target> ) <pre_installed_capacity> <pre_installed_capacity_cost>
          <routing_cost> <setup_cost> ( {<module_capacity> <module_cost>}* )
    )
    DEMANDS (
      <demand_id> ( <source> <target> ) <routing_unit> <demand_value> <max_path_length>
    )
    ADMISSIBLE_PATHS ( ... )                                 (read past, not used)

``#`` starts a comment (to the end of the line), a line starting with ``?`` is the header,
tokens are separated by blanks and parentheses. ``NODES``, ``LINKS`` and ``DEMANDS`` are
required; ``META`` and ``ADMISSIBLE_PATHS`` are optional, other sections are read past.

**Units.** Demand values and module capacities share one unit in SNDlib. When ``META``
names a ``unit`` (``BITPERSEC``, ``KBITPERSEC``, ``MBITPERSEC``, ``GBITPERSEC`` or
``TBITPERSEC``) values are converted to Gbps; when it names none, **the values are assumed
to be Gbps** (many SNDlib networks use abstract units) and the instance name says so.

**Mapping** (what comes from the file and what is derived):

* **Routers**: the nodes, in file order. SNDlib ``x y`` are longitude and latitude in most
  files; they become ``lon``/``lat`` only when *every* node has them in range
  (|x| <= 180, |y| <= 90), otherwise all coordinates are left out.
* **Fibers**: one per SNDlib link (same name and ends). ``length_km`` is the great-circle
  distance times :data:`~problems.network_planning.topologyzoo.ROUTE_FACTOR` when the
  coordinates are used, else 0. ``spectrum_slots`` is sized so the link's ``max_units``
  fit (spectrum never binds: SNDlib has no optical layer).
* **IP links**: one per SNDlib link, riding its fiber alone, with the link's name. The
  capacity unit (``capacity_unit_gbps``) is the smallest module capacity in the file (or
  :data:`DEFAULT_UNIT_GBPS` when no link has a module, or the caller's value).
  ``cost_per_unit`` is the link's cheapest module cost per Gbps times the unit; a link
  without modules costs ``routing_cost`` per Gbps times the unit, or 1 per unit when that
  is 0. ``existing_units`` is the pre-installed capacity rounded *up* to whole units;
  ``min_units`` is 0; ``max_units`` is enough for all the traffic (the total demand in
  units, rounded up, at least ``existing_units`` and 1), so every instance is feasible;
  ``spectrum_per_unit`` is 1. Pre-installed capacity cost, setup cost, module sizes above
  the unit, routing units, path-length limits and admissible paths are not modelled.
* **Demands**: one per SNDlib demand with a positive value, named by its id, ``gbps`` =
  the value converted to Gbps, directed from source to target. With ``max_demands`` only
  that many of the largest are kept (ties: file order), in file order.
* **Failure scenarios (derived)**: one per single fiber cut that leaves the network as
  connected as it was (the fiber is not a bridge), longest fibers first (file order on
  ties), at most ``max_scenarios``.
* **Classes of service (derived)**: a demand is ``gold`` (protected) only if its ends stay
  connected in every failure scenario, otherwise ``bronze``. As bridges get no scenario,
  every demand is ``gold`` today; the rule keeps the instance valid if scenarios change.

Errors are :class:`ValueError` naming the file, the line and the element, e.g.
``net.txt: line 12: link L3 names unknown node X`` or ``net.txt: missing section NODES``.
Nothing is random: the same file gives the same instance.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from problems.network_planning.schema import Components
from problems.network_planning.topologyzoo import ROUTE_FACTOR, _haversine_km

__all__ = [
    "DEFAULT_UNIT_GBPS",
    "GBPS_PER_VALUE",
    "SndlibDemand",
    "SndlibLink",
    "SndlibNetwork",
    "SndlibNode",
    "import_sndlib",
    "parse_sndlib",
]

DEFAULT_UNIT_GBPS = 100.0
"""The capacity unit when no link of the file has a module."""

GBPS_PER_VALUE = {
    "BITPERSEC": 1e-9,
    "KBITPERSEC": 1e-6,
    "MBITPERSEC": 1e-3,
    "GBITPERSEC": 1.0,
    "TBITPERSEC": 1e3,
}
"""Gbps per value, by the ``unit`` names of SNDlib's ``META`` section."""

_REQUIRED = ("NODES", "LINKS", "DEMANDS")
_TOKEN = re.compile(r"[()]|[^\s()]+")
_NETWORK_COMMENT = re.compile(r"^\s*#\s*network\s+(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class SndlibNode:
    """A node; ``x``/``y`` as in the file (often longitude/latitude), ``None`` when absent."""

    id: str
    line: int
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class SndlibLink:
    """A link; capacities in the file's unit, ``modules`` as (capacity, cost) pairs."""

    id: str
    line: int
    source: str
    target: str
    pre_installed_capacity: float
    pre_installed_capacity_cost: float
    routing_cost: float
    setup_cost: float
    modules: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SndlibDemand:
    """A demand; ``value`` in the file's unit; ``max_path_length`` as written (``UNLIMITED``)."""

    id: str
    line: int
    source: str
    target: str
    routing_unit: float
    value: float
    max_path_length: str


@dataclass
class SndlibNetwork:
    """The parsed file: ``meta`` maps lowercase ``META`` keys to their values (and lines)."""

    name: str
    nodes: list[SndlibNode] = field(default_factory=list)
    links: list[SndlibLink] = field(default_factory=list)
    demands: list[SndlibDemand] = field(default_factory=list)
    meta: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Token:
    text: str
    line: int


class _Cursor:
    """Reads the tokens of one section body; errors name the file and the line."""

    def __init__(self, file: str, tokens: list[_Token], end_line: int) -> None:
        self.file = file
        self.tokens = tokens
        self.end_line = end_line
        self.at = 0

    def fail(self, line: int, message: str) -> ValueError:
        return ValueError(f"{self.file}: line {line}: {message}")

    def done(self) -> bool:
        return self.at >= len(self.tokens)

    def peek(self) -> str | None:
        return None if self.done() else self.tokens[self.at].text

    def line(self) -> int:
        return self.end_line if self.done() else self.tokens[self.at].line

    def next(self, what: str) -> _Token:
        if self.done():
            raise self.fail(self.end_line, f"{what} is missing (the section ends)")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def word(self, what: str) -> _Token:
        token = self.next(what)
        if token.text in "()":
            raise self.fail(token.line, f"{what} is missing (found {token.text!r})")
        return token

    def paren(self, paren: str, what: str) -> None:
        token = self.next(f"{paren!r} {what}")
        if token.text != paren:
            raise self.fail(token.line, f"expected {paren!r} {what}, found {token.text!r}")

    def number(self, what: str, *, minimum: float | None = 0.0) -> float:
        token = self.word(what)
        try:
            value = float(token.text)
        except ValueError:
            raise self.fail(token.line, f"{what} must be a number, not {token.text!r}") from None
        if not math.isfinite(value):
            raise self.fail(token.line, f"{what} must be a finite number, not {token.text!r}")
        if minimum is not None and value < minimum:
            raise self.fail(token.line, f"{what} must be at least {minimum:g}, not {token.text}")
        return value


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0]
        if line.lstrip().startswith("?"):
            continue
        tokens.extend(_Token(m.group(), number) for m in _TOKEN.finditer(line))
    return tokens


def _sections(file: str, tokens: list[_Token]) -> dict[str, tuple[int, list[_Token], int]]:
    """Section name -> (line of its name, body tokens, line of its closing parenthesis)."""
    sections: dict[str, tuple[int, list[_Token], int]] = {}
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name.text in "()":
            raise ValueError(f"{file}: line {name.line}: expected a section name, found {name.text!r}")
        if i + 1 >= len(tokens) or tokens[i + 1].text != "(":
            raise ValueError(f"{file}: line {name.line}: expected '(' after section name {name.text}")
        depth, j = 1, i + 2
        while j < len(tokens) and depth:
            depth += {"(": 1, ")": -1}.get(tokens[j].text, 0)
            j += 1
        if depth:
            raise ValueError(f"{file}: line {name.line}: section {name.text} is not closed (a ')' is missing)")
        key = name.text.upper()
        if key in sections:
            raise ValueError(f"{file}: line {name.line}: section {key} appears twice")
        sections[key] = (name.line, tokens[i + 2 : j - 1], tokens[j - 1].line)
        i = j
    return sections


def _ends(cursor: _Cursor, what: str, nodes: set[str]) -> tuple[str, str]:
    cursor.paren("(", f"before the ends of {what}")
    ends = []
    for role in ("source", "target"):
        token = cursor.word(f"{what}: {role} node")
        if token.text not in nodes:
            raise cursor.fail(token.line, f"{what} names unknown node {token.text}")
        ends.append(token.text)
    cursor.paren(")", f"after the ends of {what}")
    if ends[0] == ends[1]:
        raise cursor.fail(cursor.line(), f"{what} has node {ends[0]} at both ends")
    return ends[0], ends[1]


def _unique(cursor: _Cursor, token: _Token, seen: dict[str, int], what: str) -> None:
    if token.text in seen:
        raise cursor.fail(token.line, f"duplicate {what} id {token.text} (also on line {seen[token.text]})")
    seen[token.text] = token.line


def parse_sndlib(path: Path) -> SndlibNetwork:
    """Read and parse ``path`` (no mapping yet). Raises :class:`ValueError` naming the file,
    the line and the element for anything malformed."""
    path = Path(path)
    file = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file}: not a text file (UTF-8): {exc.reason}") from exc
    except OSError as exc:
        raise ValueError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    name = path.stem
    for raw in text.splitlines():
        match = _NETWORK_COMMENT.match(raw)
        if match:
            name = match.group(1)
            break
    sections = _sections(file, _tokens(text))
    for required in _REQUIRED:
        if required not in sections:
            raise ValueError(f"{file}: missing section {required}")
    network = SndlibNetwork(name=name)

    if "META" in sections:
        _, body, _ = sections["META"]
        by_line: dict[int, list[str]] = {}
        for token in body:
            by_line.setdefault(token.line, []).append(token.text)
        for line, words in by_line.items():
            key, eq, text_value = " ".join(words).partition("=")
            if eq and key.strip():
                network.meta[key.strip().lower()] = (text_value.strip(), line)

    _, body, end = sections["NODES"]
    cursor = _Cursor(file, body, end)
    seen: dict[str, int] = {}
    while not cursor.done():
        token = cursor.word("node id")
        _unique(cursor, token, seen, "node")
        x = y = None
        if cursor.peek() == "(":
            cursor.paren("(", f"before the coordinates of node {token.text}")
            x = cursor.number(f"node {token.text}: x (longitude)", minimum=None)
            y = cursor.number(f"node {token.text}: y (latitude)", minimum=None)
            cursor.paren(")", f"after the coordinates of node {token.text}")
        network.nodes.append(SndlibNode(token.text, token.line, x, y))
    nodes = {n.id for n in network.nodes}

    _, body, end = sections["LINKS"]
    cursor = _Cursor(file, body, end)
    seen = {}
    while not cursor.done():
        token = cursor.word("link id")
        what = f"link {token.text}"
        _unique(cursor, token, seen, "link")
        source, target = _ends(cursor, what, nodes)
        pre_capacity = cursor.number(f"{what}: pre-installed capacity")
        pre_cost = cursor.number(f"{what}: pre-installed capacity cost")
        routing_cost = cursor.number(f"{what}: routing cost")
        setup_cost = cursor.number(f"{what}: setup cost")
        modules: list[tuple[float, float]] = []
        if cursor.peek() == "(":
            cursor.paren("(", f"before the modules of {what}")
            while cursor.peek() not in (")", None):
                line = cursor.line()
                capacity = cursor.number(f"{what}: module capacity")
                if capacity <= 0:
                    raise cursor.fail(line, f"{what}: module capacity must be positive, not {capacity:g}")
                if cursor.peek() in (")", None):
                    raise cursor.fail(cursor.line(), f"{what}: module of capacity {capacity:g} has no cost")
                modules.append((capacity, cursor.number(f"{what}: module cost")))
            cursor.paren(")", f"after the modules of {what}")
        network.links.append(
            SndlibLink(
                token.text, token.line, source, target, pre_capacity, pre_cost, routing_cost, setup_cost, tuple(modules)
            )
        )

    _, body, end = sections["DEMANDS"]
    cursor = _Cursor(file, body, end)
    seen = {}
    while not cursor.done():
        token = cursor.word("demand id")
        what = f"demand {token.text}"
        _unique(cursor, token, seen, "demand")
        source, target = _ends(cursor, what, nodes)
        routing_unit = cursor.number(f"{what}: routing unit")
        value = cursor.number(f"{what}: demand value")
        max_path_length = cursor.word(f"{what}: max path length").text
        network.demands.append(
            SndlibDemand(token.text, token.line, source, target, routing_unit, value, max_path_length)
        )
    return network


def _tidy(x: float) -> float:
    """``x`` without float noise (12 significant digits)."""
    return float(f"{x:.12g}")


def import_sndlib(
    path: Path,
    *,
    capacity_unit_gbps: float | None = None,
    max_demands: int | None = None,
    max_scenarios: int | None = None,
) -> dict[str, Any]:
    """A ``network-planning@1`` instance (a JSON-ready dict) from the SNDlib native file
    ``path``; see the module docstring for every rule. ``capacity_unit_gbps`` overrides the
    unit taken from the smallest module. Raises :class:`ValueError` naming the file, the
    line and the element at fault."""
    if capacity_unit_gbps is not None and not (capacity_unit_gbps > 0 and math.isfinite(capacity_unit_gbps)):
        raise ValueError(f"capacity_unit_gbps must be a positive number, not {capacity_unit_gbps}")
    if max_demands is not None and max_demands < 1:
        raise ValueError(f"max_demands must be at least 1, not {max_demands}")
    if max_scenarios is not None and max_scenarios < 0:
        raise ValueError(f"max_scenarios must be at least 0, not {max_scenarios}")
    path = Path(path)
    file = path.name
    net = parse_sndlib(path)
    if len(net.nodes) < 2:
        raise ValueError(f"{file}: section NODES has {len(net.nodes)} node(s); at least 2 are needed")
    if not net.links:
        raise ValueError(f"{file}: section LINKS has no link")

    unit_entry = net.meta.get("unit")
    if unit_entry is None:
        scale, unit_note = 1.0, "values assumed Gbps (no META unit)"
    else:
        unit_name, unit_line = unit_entry
        if unit_name.upper() not in GBPS_PER_VALUE:
            raise ValueError(
                f"{file}: line {unit_line}: META unit {unit_name!r} is not one of {', '.join(GBPS_PER_VALUE)}"
            )
        scale, unit_note = GBPS_PER_VALUE[unit_name.upper()], f"values in {unit_name.upper()}"

    geo = all(n.x is not None and n.y is not None and abs(n.x) <= 180 and abs(n.y) <= 90 for n in net.nodes)
    position = {n.id: (n.y, n.x) for n in net.nodes}

    def length_km(link: SndlibLink) -> float:
        (lat1, lon1), (lat2, lon2) = position[link.source], position[link.target]
        if not geo or lat1 is None or lon1 is None or lat2 is None or lon2 is None:
            return 0.0
        return round(_haversine_km(lat1, lon1, lat2, lon2) * ROUTE_FACTOR, 1)

    module_sizes = [capacity * scale for link in net.links for capacity, _ in link.modules]
    if capacity_unit_gbps is not None:
        unit = float(capacity_unit_gbps)
    elif module_sizes:
        unit = _tidy(min(module_sizes))
    else:
        unit = DEFAULT_UNIT_GBPS
    if not unit > 0:
        raise ValueError(f"{file}: the smallest module capacity is {unit:g} Gbps after unit conversion; too small")

    # Demands: positive values, between connected nodes, the largest when capped.
    node_ids = [n.id for n in net.nodes]
    whole = Components(node_ids, [(x.source, x.target) for x in net.links])
    positive = [d for d in net.demands if d.value * scale > 0]
    for d in positive:
        if not whole.joined(d.source, d.target):
            raise ValueError(
                f"{file}: line {d.line}: demand {d.id} between disconnected nodes {d.source} and {d.target}"
            )
    if not positive:
        raise ValueError(f"{file}: section DEMANDS has no demand with a positive value")
    if max_demands is not None and len(positive) > max_demands:
        order = {d.id: k for k, d in enumerate(positive)}
        keep = {d.id for d in sorted(positive, key=lambda d: (-d.value, order[d.id]))[:max_demands]}
        positive = [d for d in positive if d.id in keep]
    total_gbps = sum(d.value * scale for d in positive)
    enough = max(1, math.ceil(total_gbps / unit - 1e-9))

    fibers: list[dict[str, Any]] = []
    ip_links: list[dict[str, Any]] = []
    for link in net.links:
        existing = max(0, math.ceil(link.pre_installed_capacity * scale / unit - 1e-9))
        max_units = max(existing, enough)
        if link.modules:
            per_gbps = min(cost / (capacity * scale) for capacity, cost in link.modules)
        else:
            per_gbps = link.routing_cost if link.routing_cost > 0 else 1.0 / unit
        fibers.append(
            {
                "name": link.id,
                "a": link.source,
                "b": link.target,
                "length_km": length_km(link),
                "spectrum_slots": max_units,
            }
        )
        ip_links.append(
            {
                "name": link.id,
                "a": link.source,
                "b": link.target,
                "fiber_path": [link.id],
                "existing_units": existing,
                "min_units": 0,
                "max_units": max_units,
                "cost_per_unit": _tidy(per_gbps * unit),
                "spectrum_per_unit": 1,
                "lease": None,
            }
        )

    # Single cuts of fibers that are not bridges, longest first.
    components = whole.count()
    cuttable = [
        (k, fiber)
        for k, fiber in enumerate(fibers)
        if Components(node_ids, [(f["a"], f["b"]) for f in fibers if f is not fiber]).count() == components
    ]
    cuttable.sort(key=lambda kf: (-kf[1]["length_km"], kf[0]))
    if max_scenarios is not None:
        cuttable = cuttable[:max_scenarios]
    scenarios = [{"name": f"cut-{fiber['name']}", "fibers": [fiber["name"]]} for _, fiber in cuttable]
    after_cut = [
        Components(node_ids, [(f["a"], f["b"]) for f in fibers if f["name"] not in s["fibers"]]) for s in scenarios
    ]
    demands = [
        {
            "name": d.id,
            "src": d.source,
            "dst": d.target,
            "gbps": _tidy(d.value * scale),
            "cos": "gold" if all(parts.joined(d.source, d.target) for parts in after_cut) else "bronze",
        }
        for d in positive
    ]
    routers: list[dict[str, Any]] = []
    for n in net.nodes:
        router: dict[str, Any] = {"name": n.id}
        if geo:
            router.update(lat=n.y, lon=n.x)
        routers.append(router)

    return {
        "name": f"sndlib:{net.name} ({unit_note}; derived costs, unit limits, scenarios and classes)",
        "capacity_unit_gbps": unit,
        "routers": routers,
        "fibers": fibers,
        "ip_links": ip_links,
        "leases": [],
        "demands": demands,
        "protected_classes": ["gold"],
        "failure_scenarios": scenarios,
    }
