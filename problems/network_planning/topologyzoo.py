"""Import an Internet Topology Zoo GraphML file as a ``network-planning@1`` instance.

The Internet Topology Zoo (S. Knight, H. X. Nguyen, N. Falkner, R. Bowden, M. Roughan,
"The Internet Topology Zoo", IEEE JSAC 29(9), 2011) is published under the Creative Commons
Attribution 4.0 International license; the files shipped in ``data/`` beside this module
carry that attribution and the license text.

The zoo gives a topology only: sites (some with coordinates) and links. Everything else in
the instance is *derived or synthetic* and is documented here:

* **Routers**: the nodes with numeric ``Latitude`` and ``Longitude``; nodes without
  coordinates are dropped (with their links). Self-loops are dropped, parallel links
  collapse to one, and only the largest connected component is kept (ties: the one met
  first in the file). Router names are the node labels with every character outside
  ``[A-Za-z0-9._-]`` replaced by ``-``, made unique with ``-2``, ``-3``... suffixes
  (:func:`load_topology` returns the node id -> router name mapping).
* **Fibers**: one per remaining link. ``length_km`` is the great-circle (haversine)
  distance times a route factor of :data:`ROUTE_FACTOR` (1.2, fiber does not run straight);
  ``spectrum_slots`` is :data:`SPECTRUM_SLOTS` (80: the C band on a 50 GHz grid).
* **IP links**: one per fiber riding that fiber alone, plus up to :data:`EXPRESS_LINKS`
  express links between pairs of the 4 highest-degree routers that are not neighbours,
  riding the shortest (by length) fiber path. ``cost_per_unit`` is a *relative* cost per unit of
  ``capacity_unit_gbps`` (100 Gbps by default): ``1 + length_km / 100`` over the link's
  fiber path. ``existing_units = 0``, ``min_units = 0``, ``max_units =``
  :data:`MAX_UNITS`; ``spectrum_per_unit`` is 1, or 2 for paths longer than
  :data:`LONG_HAUL_KM` km (a lower-order modulation needs a wider channel). No leases.
* **Demands (synthetic)**: a gravity model with node degree as mass,
  ``deg(s) * deg(d) * noise`` for every ordered pair, where the noise is log-normal
  (sigma :data:`NOISE_SIGMA`) from ``numpy.random.default_rng(seed)``. With
  ``demand_pairs`` only that many of the largest pairs are kept. The total is scaled so that
  routing every demand on its shortest fiber path (by length) loads the busiest direction
  of an average used fiber with about :data:`TARGET_UNITS` units; values are rounded to
  whole Gbps (at least 1). The top :data:`GOLD_FRACTION` (30%) of demands by volume are
  ``gold`` (protected), the rest ``bronze``. The provenance (file, synthetic traffic, seed)
  is in the instance ``name``; the instance has no other place for notes.
* **Failure scenarios**: one per single fiber cut, longest fibers first, at most
  ``max_scenarios``. Fibers that are bridges (their cut disconnects the fiber graph) are
  skipped: a protected demand across a bridge could not survive its cut.

Big zoo networks give instances beyond the model's size limit
(``schema.MAX_FLOW_VARIABLES``): use ``max_scenarios`` and ``demand_pairs`` to cut them down.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx  # type: ignore[import-untyped]
import numpy as np

__all__ = [
    "DATA_DIR",
    "EXPRESS_LINKS",
    "GOLD_FRACTION",
    "LONG_HAUL_KM",
    "MAX_UNITS",
    "NOISE_SIGMA",
    "ROUTE_FACTOR",
    "SPECTRUM_SLOTS",
    "TARGET_UNITS",
    "ZooTopology",
    "import_graphml",
    "load_topology",
    "shipped_topologies",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
"""The shipped GraphML files (with README.md and LICENSE)."""

EARTH_RADIUS_KM = 6371.0
ROUTE_FACTOR = 1.2
"""Fiber length = great-circle distance x this factor."""
SPECTRUM_SLOTS = 80
"""Spectrum slots per fiber: the C band (~4 THz) on a 50 GHz grid."""
MAX_UNITS = 64
"""Most units of any IP link."""
LONG_HAUL_KM = 2000.0
"""IP links whose fiber path is longer than this take 2 slots per unit instead of 1."""
EXPRESS_LINKS = 3
"""At most this many express IP links between high-degree routers."""
NOISE_SIGMA = 0.3
"""Sigma of the log-normal noise on the gravity-model traffic."""
TARGET_UNITS = 3.0
"""Demands are scaled so that an average used fiber carries about this many units (busiest direction)."""
GOLD_FRACTION = 0.3
"""Fraction of demands (the largest) in the protected class ``gold``."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ZooTopology:
    """A cleaned zoo topology: ``graph`` is an undirected simple graph on router names with
    ``lat``/``lon`` node attributes and ``length_km`` edge attributes."""

    network: str
    graph: nx.Graph[str]
    router_of_node: dict[str, str]
    """GraphML node id -> router name, for the kept nodes."""
    dropped_nodes: list[str] = field(default_factory=list)
    """GraphML node ids dropped (no coordinates, or outside the largest component)."""


def shipped_topologies() -> dict[str, Path]:
    """The GraphML files shipped with this package, by network name (file stem)."""
    return {p.stem: p for p in sorted(DATA_DIR.glob("*.graphml"))}


def _coordinate(value: Any, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    if not math.isfinite(x) or abs(x) > limit:
        return None
    return x


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _unique(base: str, taken: set[str]) -> str:
    name, k = base, 2
    while name in taken:
        name = f"{base}-{k}"
        k += 1
    taken.add(name)
    return name


def load_topology(path: Path) -> ZooTopology:
    """Read ``path`` and clean it (see the module docstring). Raises :class:`ValueError`
    naming the file when it cannot be read or has fewer than 3 geo-tagged, connected nodes."""
    path = Path(path)
    try:
        raw = nx.read_graphml(path)
    except (ET.ParseError, nx.NetworkXError, OSError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path.name}: cannot read GraphML: {exc}") from exc
    network = str(raw.graph.get("label") or raw.graph.get("Network") or path.stem)
    undirected = raw.to_undirected() if raw.is_directed() else raw

    geo: dict[str, tuple[float, float]] = {}
    for node, data in undirected.nodes(data=True):
        lat = _coordinate(data.get("Latitude"), 90.0)
        lon = _coordinate(data.get("Longitude"), 180.0)
        if lat is not None and lon is not None:
            geo[str(node)] = (lat, lon)
    simple: nx.Graph[str] = nx.Graph()
    simple.add_nodes_from(n for n in undirected.nodes if str(n) in geo)
    simple.add_edges_from((u, v) for u, v in undirected.edges() if u != v and str(u) in geo and str(v) in geo)
    components = list(nx.connected_components(simple)) if simple.number_of_nodes() else []
    largest = max(components, key=len) if components else set()
    if len(largest) < 3:
        raise ValueError(
            f"{path.name}: only {len(largest)} connected geo-tagged nodes (Latitude/Longitude); at least 3 are needed"
        )

    taken: set[str] = set()
    router_of_node: dict[str, str] = {}
    graph: nx.Graph[str] = nx.Graph()
    for node in simple.nodes:
        if node not in largest:
            continue
        label = str(undirected.nodes[node].get("label") or "").strip()
        base = _UNSAFE.sub("-", label).strip("-") or f"n{node}"
        name = _unique(base, taken)
        router_of_node[str(node)] = name
        lat, lon = geo[str(node)]
        graph.add_node(name, lat=lat, lon=lon)
    for u, v in simple.edges():
        if u in largest and v in largest:
            a, b = router_of_node[str(u)], router_of_node[str(v)]
            ga, gb = graph.nodes[a], graph.nodes[b]
            length = round(_haversine_km(ga["lat"], ga["lon"], gb["lat"], gb["lon"]) * ROUTE_FACTOR, 1)
            graph.add_edge(a, b, length_km=length)
    dropped = [str(n) for n in undirected.nodes if str(n) not in router_of_node]
    return ZooTopology(network=network, graph=graph, router_of_node=router_of_node, dropped_nodes=dropped)


def _cost(length_km: float) -> float:
    return round(1.0 + length_km / 100.0, 3)


def import_graphml(
    path: Path,
    *,
    seed: int = 0,
    capacity_unit_gbps: float = 100.0,
    max_scenarios: int | None = None,
    demand_pairs: int | None = None,
) -> dict[str, Any]:
    """A ``network-planning@1`` instance (a JSON-ready dict) from the zoo file ``path``.

    Nodes without Latitude/Longitude are dropped, so are nodes outside the largest connected
    component; the traffic is synthetic (gravity model on node degree, seeded by ``seed``);
    bridge fibers get no failure scenario. See the module docstring for every rule.
    Raises :class:`ValueError` naming the file when it has fewer than 3 usable nodes.
    """
    if not capacity_unit_gbps > 0 or not math.isfinite(capacity_unit_gbps):
        raise ValueError(f"capacity_unit_gbps must be a positive number, not {capacity_unit_gbps}")
    topo = load_topology(path)
    graph = topo.graph
    routers = list(graph.nodes)

    # Fibers, one per edge, named after their ends.
    fiber_names: set[str] = set()
    fibers: list[dict[str, Any]] = []
    fiber_of_pair: dict[frozenset[str], str] = {}
    for a, b, data in graph.edges(data=True):
        name = _unique(f"{a}--{b}", fiber_names)
        fiber_of_pair[frozenset((a, b))] = name
        fibers.append({"name": name, "a": a, "b": b, "length_km": data["length_km"], "spectrum_slots": SPECTRUM_SLOTS})

    def ip_link(name: str, nodes: list[str]) -> dict[str, Any]:
        path_fibers = [fiber_of_pair[frozenset(pair)] for pair in itertools.pairwise(nodes)]
        length = sum(graph.edges[u, v]["length_km"] for u, v in itertools.pairwise(nodes))
        return {
            "name": name,
            "a": nodes[0],
            "b": nodes[-1],
            "fiber_path": path_fibers,
            "existing_units": 0,
            "min_units": 0,
            "max_units": MAX_UNITS,
            "cost_per_unit": _cost(length),
            "spectrum_per_unit": 2 if length > LONG_HAUL_KM else 1,
            "lease": None,
        }

    link_names: set[str] = set()
    ip_links = [ip_link(_unique(f"ip-{f['a']}--{f['b']}", link_names), [f["a"], f["b"]]) for f in fibers]

    # Express links between the highest-degree routers that are not neighbours.
    order = {r: k for k, r in enumerate(routers)}
    hubs = sorted(routers, key=lambda r: (-graph.degree[r], order[r]))[:4]
    added = 0
    for i, u in enumerate(hubs):
        for v in hubs[i + 1 :]:
            if added >= EXPRESS_LINKS or graph.has_edge(u, v):
                continue
            nodes = nx.shortest_path(graph, u, v, weight="length_km")
            ip_links.append(ip_link(_unique(f"express-{u}--{v}", link_names), nodes))
            added += 1

    # Synthetic gravity-model demands.
    rng = np.random.default_rng(seed)
    pairs = [(s, d) for s in routers for d in routers if s != d]
    noise = rng.lognormal(mean=0.0, sigma=NOISE_SIGMA, size=len(pairs))
    weights = [graph.degree[s] * graph.degree[d] * float(x) for (s, d), x in zip(pairs, noise, strict=True)]
    ranked = sorted(range(len(pairs)), key=lambda k: (-weights[k], k))
    if demand_pairs is not None:
        if demand_pairs < 1:
            raise ValueError(f"demand_pairs must be at least 1, not {demand_pairs}")
        ranked = ranked[:demand_pairs]
    paths = dict(nx.all_pairs_dijkstra_path(graph, weight="length_km"))
    load: dict[tuple[str, str], float] = {}
    for k in ranked:
        s, d = pairs[k]
        hops = paths[s][d]
        for u, v in itertools.pairwise(hops):
            load[(u, v)] = load.get((u, v), 0.0) + weights[k]
    busiest: dict[frozenset[str], float] = {}
    for (u, v), x in load.items():
        key = frozenset((u, v))
        busiest[key] = max(busiest.get(key, 0.0), x)
    mean_load = sum(busiest.values()) / len(busiest)
    scale = TARGET_UNITS * capacity_unit_gbps / mean_load
    n_gold = math.ceil(GOLD_FRACTION * len(ranked))
    demands = [
        {
            "src": pairs[k][0],
            "dst": pairs[k][1],
            "gbps": float(max(1, round(weights[k] * scale))),
            "cos": "gold" if rank < n_gold else "bronze",
        }
        for rank, k in enumerate(ranked)
    ]

    # Single-fiber cuts that keep the fiber graph connected, longest first.
    bridges = {frozenset(e) for e in nx.bridges(graph)}
    cuttable = [f for f in fibers if frozenset((f["a"], f["b"])) not in bridges]
    cuttable.sort(key=lambda f: -f["length_km"])
    if max_scenarios is not None:
        if max_scenarios < 0:
            raise ValueError(f"max_scenarios must be at least 0, not {max_scenarios}")
        cuttable = cuttable[:max_scenarios]
    failure_scenarios = [{"name": f"cut-{f['name']}", "fibers": [f["name"]]} for f in cuttable]

    return {
        "name": f"topologyzoo:{topo.network} (synthetic traffic, seed {seed})",
        "capacity_unit_gbps": float(capacity_unit_gbps),
        "routers": [{"name": r, "lat": graph.nodes[r]["lat"], "lon": graph.nodes[r]["lon"]} for r in routers],
        "fibers": fibers,
        "ip_links": ip_links,
        "leases": [],
        "demands": demands,
        "protected_classes": ["gold"],
        "failure_scenarios": failure_scenarios,
    }
