"""Seeded random ``network-planning@1`` instances and the built-in named instances.

The instances are synthetic (no real topology or traffic): routers are uniform random
points in a box of the continental US (lat 30..48, lon -120..-75); fibers join routers
closer than a radius (a random geometric graph), plus a minimum spanning tree so that the
graph is connected, plus the shortest missing edges that remove every bridge, so that the
fiber graph is 2-edge-connected and every single fiber cut leaves it connected. Fiber
lengths are straight-line distances (about 111 km per degree). Each fiber carries one IP
link; ``extra_links`` more links join random non-adjacent routers over their shortest fiber
paths (by length). Demands follow a gravity model (random router weights; integral Gbps,
mean about 40) between about half of the ordered router pairs, each "gold" (protected) with
probability 0.4, else "bronze". The failure scenarios are every single fiber cut
(``cut-<fiber>``), or the first ``scenarios`` of them.

Feasibility is guaranteed: every link may grow to ``existing + ceil(total demand / unit)``
units, and fiber spectrum is large enough for every link at its maximum at once, so the
direct links alone can carry all traffic after any single cut. Draws come from
``numpy.random.default_rng(seed)`` in a fixed order, so a seed and a size give the same
instance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping

import networkx as nx  # type: ignore[import-untyped]
import numpy as np

from problems.network_planning.schema import (
    Demand,
    FailureScenario,
    Fiber,
    IpLink,
    NetworkPlanningInstance,
    Router,
)

__all__ = ["BUILTIN_INSTANCES", "DEFAULT_EXTRA_LINKS", "DEFAULT_NODES", "generate", "ring"]

DEFAULT_NODES = 8
DEFAULT_EXTRA_LINKS = 3
UNIT_GBPS = 100.0
KM_PER_DEGREE = 111.0
_LAT = (30.0, 48.0)
_LON = (-120.0, -75.0)


def generate(
    seed: int,
    nodes: int = DEFAULT_NODES,
    extra_links: int = DEFAULT_EXTRA_LINKS,
    scenarios: int | None = None,
    *,
    name: str = "",
) -> NetworkPlanningInstance:
    """A feasible synthetic instance (see the module docstring). Routers are ``R1..Rn``,
    fibers ``F1..``, links ``L1..``. Raises ``ValueError`` for fewer than 3 nodes, more than
    60, a negative ``extra_links`` or ``scenarios``, or a negative seed."""
    if not 3 <= nodes <= 60:
        raise ValueError(f"nodes must be in [3, 60], got {nodes}")
    if extra_links < 0:
        raise ValueError(f"extra_links must be >= 0, got {extra_links}")
    if scenarios is not None and scenarios < 0:
        raise ValueError(f"scenarios must be >= 0, got {scenarios}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    lat = rng.uniform(*_LAT, size=nodes)
    lon = rng.uniform(*_LON, size=nodes)
    graph = nx.Graph()
    graph.add_nodes_from(range(nodes))

    def dist(u: int, v: int) -> float:
        dx = (lon[u] - lon[v]) * math.cos(math.radians(0.5 * (lat[u] + lat[v])))
        return KM_PER_DEGREE * math.hypot(dx, lat[u] - lat[v])

    complete = nx.Graph()
    for u in range(nodes):
        for v in range(u + 1, nodes):
            complete.add_edge(u, v, length=dist(u, v))
    lengths = sorted(d["length"] for _, _, d in complete.edges(data=True))
    radius = lengths[min(len(lengths) - 1, int(1.2 * nodes))]
    graph.add_edges_from((u, v) for u, v, d in complete.edges(data=True) if d["length"] <= radius)
    graph.add_edges_from(nx.minimum_spanning_edges(complete, weight="length", data=False))
    _make_two_edge_connected(graph, complete)
    fibers = sorted(tuple(sorted(e)) for e in graph.edges())
    for u, v in fibers:
        graph.edges[u, v]["length"] = dist(u, v)
    return _instance(
        rng,
        name=name or f"mesh-{nodes}-s{seed}",
        lat=lat,
        lon=lon,
        graph=graph,
        fibers=[(u, v) for u, v in fibers],
        extra_links=extra_links,
        scenarios=scenarios,
    )


def ring(seed: int, nodes: int = 5, *, name: str = "") -> NetworkPlanningInstance:
    """A ring of ``nodes`` routers on a circle (one chord link over two fibers), gravity
    demands as in :func:`generate`, every single fiber cut."""
    if not 3 <= nodes <= 60:
        raise ValueError(f"nodes must be in [3, 60], got {nodes}")
    rng = np.random.default_rng(seed)
    angle = np.linspace(0.0, 2 * math.pi, nodes, endpoint=False)
    lat = 39.0 + 6.0 * np.sin(angle)
    lon = -97.0 + 12.0 * np.cos(angle)
    graph = nx.Graph()
    fibers = [(v, (v + 1) % nodes) for v in range(nodes)]
    for u, v in fibers:
        dx = (lon[u] - lon[v]) * math.cos(math.radians(0.5 * (lat[u] + lat[v])))
        graph.add_edge(u, v, length=KM_PER_DEGREE * math.hypot(dx, lat[u] - lat[v]))
    return _instance(
        rng,
        name=name or f"ring-{nodes}-s{seed}",
        lat=lat,
        lon=lon,
        graph=graph,
        fibers=fibers,
        extra_links=1,
        scenarios=None,
    )


def _make_two_edge_connected(graph: nx.Graph, complete: nx.Graph) -> None:
    """Add the shortest missing edge across each bridge until there is none."""
    while True:
        bridges = sorted(tuple(sorted(b)) for b in nx.bridges(graph))
        if not bridges:
            return
        u, v = bridges[0]
        graph.remove_edge(u, v)
        side = nx.node_connected_component(graph, u)
        graph.add_edge(u, v)
        best = min(
            (
                (complete.edges[a, b]["length"], min(a, b), max(a, b))
                for a in side
                for b in graph.nodes
                if b not in side and not graph.has_edge(a, b)
            ),
            default=None,
        )
        if best is None:  # pragma: no cover - a complete graph on >= 3 nodes has no bridge
            return
        graph.add_edge(best[1], best[2])


def _instance(
    rng: np.random.Generator,
    *,
    name: str,
    lat: np.typing.NDArray[np.float64],
    lon: np.typing.NDArray[np.float64],
    graph: nx.Graph,
    fibers: list[tuple[int, int]],
    extra_links: int,
    scenarios: int | None,
) -> NetworkPlanningInstance:
    nodes = len(lat)
    fiber_name = {}
    for j, (u, v) in enumerate(fibers):
        fiber_name[u, v] = fiber_name[v, u] = f"F{j + 1}"
    paths: list[tuple[int, int, list[str], float]] = []
    for u, v in fibers:
        paths.append((u, v, [fiber_name[u, v]], float(graph.edges[u, v]["length"])))
    candidates = [(u, v) for u in range(nodes) for v in range(u + 1, nodes) if not graph.has_edge(u, v)]
    picks = rng.permutation(len(candidates))[: min(extra_links, len(candidates))]
    for p in sorted(picks.tolist()):
        u, v = candidates[p]
        hops = nx.shortest_path(graph, u, v, weight="length")
        path = [fiber_name[a, b] for a, b in itertools.pairwise(hops)]
        length = float(sum(graph.edges[a, b]["length"] for a, b in itertools.pairwise(hops)))
        paths.append((u, v, path, length))

    weights = rng.uniform(1.0, 10.0, size=nodes)
    pairs = [(i, j) for i in range(nodes) for j in range(nodes) if i != j]
    keep = rng.random(len(pairs)) < 0.5
    if not keep.any():
        keep[0] = True
    gravity = np.array([weights[i] * weights[j] for i, j in pairs])
    gbps = np.maximum(1, np.rint(40.0 * len(pairs) * gravity / gravity.sum()))
    gold = rng.random(len(pairs)) < 0.4
    demands = [
        Demand(src=f"R{i + 1}", dst=f"R{j + 1}", gbps=float(g), cos="gold" if is_gold else "bronze")
        for (i, j), g, is_gold, k in zip(pairs, gbps.tolist(), gold.tolist(), keep.tolist(), strict=True)
        if k
    ]
    total = float(sum(d.gbps for d in demands))
    grow = math.ceil(total / UNIT_GBPS)
    existing = rng.integers(0, 2, size=len(paths), endpoint=True).tolist()
    links = [
        IpLink(
            name=f"L{n + 1}",
            a=f"R{u + 1}",
            b=f"R{v + 1}",
            fiber_path=path,
            existing_units=int(existing[n]),
            min_units=0,
            max_units=int(existing[n]) + grow,
            cost_per_unit=float(round(20.0 + 0.05 * length)),
            spectrum_per_unit=1,
        )
        for n, (u, v, path, length) in enumerate(paths)
    ]
    slots = dict.fromkeys(fiber_name.values(), 0)
    for link in links:
        for fiber in link.fiber_path:
            slots[fiber] += link.spectrum_per_unit * link.max_units
    cuts = [FailureScenario(name=f"cut-F{j + 1}", fibers=[f"F{j + 1}"]) for j in range(len(fibers))]
    return NetworkPlanningInstance(
        name=name,
        capacity_unit_gbps=UNIT_GBPS,
        routers=[
            Router(name=f"R{v + 1}", lat=round(float(lat[v]), 4), lon=round(float(lon[v]), 4)) for v in range(nodes)
        ],
        fibers=[
            Fiber(
                name=f"F{j + 1}",
                a=f"R{u + 1}",
                b=f"R{v + 1}",
                length_km=round(float(graph.edges[u, v]["length"]), 1),
                spectrum_slots=slots[f"F{j + 1}"],
            )
            for j, (u, v) in enumerate(fibers)
        ],
        ip_links=links,
        leases=[],
        demands=demands,
        protected_classes=["gold"],
        failure_scenarios=cuts if scenarios is None else cuts[:scenarios],
    )


def _builtin(make: Callable[[], NetworkPlanningInstance], doc: str) -> Callable[[], NetworkPlanningInstance]:
    make.__doc__ = doc
    return make


BUILTIN_INSTANCES: Mapping[str, Callable[[], NetworkPlanningInstance]] = {
    "ring-5": _builtin(lambda: ring(5, 5, name="ring-5"), "ring(seed=5, nodes=5)"),
    "mesh-8": _builtin(lambda: generate(8, 8, 3, name="mesh-8"), "generate(seed=8, nodes=8, extra_links=3)"),
    "mesh-12": _builtin(lambda: generate(12, 12, 4, name="mesh-12"), "generate(seed=12, nodes=12, extra_links=4)"),
}
"""Named instances (``"instance_ref": "builtin:NAME"``), each built afresh on call."""
