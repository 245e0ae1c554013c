"""Unit tests of the Internet Topology Zoo importer (``problems.network_planning.topologyzoo``)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from problems.network_planning.topologyzoo import (
    DATA_DIR,
    GOLD_FRACTION,
    LONG_HAUL_KM,
    import_graphml,
    load_topology,
    shipped_topologies,
)

# The shared data folder sits beside the repository (in a session and in CI alike).
ZOO_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "topologyzoo"

TOP_KEYS = {
    "name",
    "capacity_unit_gbps",
    "routers",
    "fibers",
    "ip_links",
    "leases",
    "demands",
    "protected_classes",
    "failure_scenarios",
}
ROUTER_KEYS = {"name", "lat", "lon"}
FIBER_KEYS = {"name", "a", "b", "length_km", "spectrum_slots"}
LINK_KEYS = {
    "name",
    "a",
    "b",
    "fiber_path",
    "existing_units",
    "min_units",
    "max_units",
    "cost_per_unit",
    "spectrum_per_unit",
    "lease",
}
DEMAND_KEYS = {"src", "dst", "gbps", "cos"}
SCENARIO_KEYS = {"name", "fibers"}

NO_GEO = """<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key attr.name="label" attr.type="string" for="node" id="d0" />
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">A</data></node>
    <node id="1"><data key="d0">B</data></node>
    <node id="2"><data key="d0">C</data></node>
    <edge source="0" target="1" />
    <edge source="1" target="2" />
    <edge source="2" target="0" />
  </graph>
</graphml>
"""

MESSY = """<?xml version="1.0" encoding="utf-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key attr.name="label" attr.type="string" for="node" id="d0" />
  <key attr.name="Latitude" attr.type="double" for="node" id="d1" />
  <key attr.name="Longitude" attr.type="double" for="node" id="d2" />
  <graph edgedefault="undirected">
    <node id="0"><data key="d0">New York, NY</data><data key="d1">40.7</data><data key="d2">-74.0</data></node>
    <node id="1"><data key="d0">New York, NY</data><data key="d1">39.9</data><data key="d2">-75.2</data></node>
    <node id="2"><data key="d0">?</data><data key="d1">38.9</data><data key="d2">-77.0</data></node>
    <node id="3"><data key="d0">Boston</data><data key="d1">42.4</data><data key="d2">-71.1</data></node>
    <node id="4"><data key="d0">Nowhere</data></node>
    <node id="5"><data key="d0">Island</data><data key="d1">10.0</data><data key="d2">10.0</data></node>
    <edge source="0" target="1" />
    <edge source="0" target="1" />
    <edge source="1" target="2" />
    <edge source="2" target="0" />
    <edge source="0" target="3" />
    <edge source="3" target="3" />
    <edge source="3" target="4" />
  </graph>
</graphml>
"""


def check_instance_dict(data: dict[str, Any]) -> None:
    """The structural rules of a network-planning@1 instance that the importer promises."""
    assert set(data) == TOP_KEYS
    assert isinstance(data["name"], str)
    assert data["name"].startswith("topologyzoo:")
    assert "synthetic traffic" in data["name"]
    assert data["capacity_unit_gbps"] > 0
    assert data["leases"] == []
    assert data["protected_classes"] == ["gold"]

    routers = {r["name"]: r for r in data["routers"]}
    assert len(routers) == len(data["routers"]) >= 3
    for r in data["routers"]:
        assert set(r) == ROUTER_KEYS
        assert r["name"]
        assert -90 <= r["lat"] <= 90
        assert -180 <= r["lon"] <= 180

    fibers = {f["name"]: f for f in data["fibers"]}
    assert len(fibers) == len(data["fibers"]) >= 2
    pairs = set()
    for f in data["fibers"]:
        assert set(f) == FIBER_KEYS
        assert f["a"] in routers
        assert f["b"] in routers
        assert f["a"] != f["b"]
        assert f["length_km"] >= 0
        assert isinstance(f["spectrum_slots"], int)
        assert f["spectrum_slots"] >= 0
        pairs.add(frozenset((f["a"], f["b"])))
    assert len(pairs) == len(fibers), "one fiber per router pair"
    graph = nx.Graph()
    graph.add_nodes_from(routers)
    graph.add_edges_from((f["a"], f["b"], {"name": f["name"]}) for f in data["fibers"])
    assert nx.is_connected(graph)

    links = [link["name"] for link in data["ip_links"]]
    assert len(set(links)) == len(links) >= len(fibers)
    for link in data["ip_links"]:
        assert set(link) == LINK_KEYS
        assert link["a"] in routers
        assert link["b"] in routers
        assert link["a"] != link["b"]
        assert link["fiber_path"]
        at = link["a"]
        for name in link["fiber_path"]:
            fiber = fibers[name]
            assert at in (fiber["a"], fiber["b"]), f"{link['name']}: path not contiguous at {name}"
            at = fiber["b"] if fiber["a"] == at else fiber["a"]
        assert at == link["b"], f"{link['name']}: path does not end at b"
        assert len(set(link["fiber_path"])) == len(link["fiber_path"])
        length = sum(fibers[name]["length_km"] for name in link["fiber_path"])
        assert link["spectrum_per_unit"] == (2 if length > LONG_HAUL_KM else 1)
        for key in ("existing_units", "min_units", "max_units"):
            assert isinstance(link[key], int)
            assert link[key] >= 0
        assert link["max_units"] >= max(link["min_units"], link["existing_units"])
        assert link["cost_per_unit"] >= 0
        assert link["lease"] is None

    assert data["demands"]
    for d in data["demands"]:
        assert set(d) == DEMAND_KEYS
        assert d["src"] in routers
        assert d["dst"] in routers
        assert d["src"] != d["dst"]
        assert d["gbps"] > 0
        assert d["gbps"] == int(d["gbps"])
        assert d["cos"] in ("gold", "bronze")
    assert len({(d["src"], d["dst"]) for d in data["demands"]}) == len(data["demands"])

    scenarios = [s["name"] for s in data["failure_scenarios"]]
    assert len(set(scenarios)) == len(scenarios)
    for s in data["failure_scenarios"]:
        assert set(s) == SCENARIO_KEYS
        assert s["fibers"]
        cut = graph.copy()
        for name in s["fibers"]:
            cut.remove_edge(fibers[name]["a"], fibers[name]["b"])
        assert nx.is_connected(cut), f"scenario {s['name']} disconnects the fiber graph"


def test_shipped_topologies_exist_with_attribution() -> None:
    shipped = shipped_topologies()
    assert set(shipped) == {"Abilene", "EliBackbone", "Oxford"}
    assert all(p.is_file() and p.parent == DATA_DIR for p in shipped.values())
    readme = (DATA_DIR / "README.md").read_text()
    assert "Internet Topology Zoo" in readme
    assert "Creative Commons Attribution 4.0" in readme
    assert "Creative Commons Attribution 4.0" in (DATA_DIR / "LICENSE").read_text()


@pytest.mark.parametrize("network", ["Abilene", "EliBackbone", "Oxford"])
def test_shipped_import_is_valid(network: str) -> None:
    data = import_graphml(shipped_topologies()[network])
    check_instance_dict(data)
    assert data["name"] == f"topologyzoo:{network} (synthetic traffic, seed 0)"
    n = len(data["routers"])
    assert len(data["demands"]) == n * (n - 1)
    # The shipped networks have no bridge: every fiber gets a cut scenario.
    assert len(data["failure_scenarios"]) == len(data["fibers"])
    lengths = [
        next(f["length_km"] for f in data["fibers"] if f["name"] == s["fibers"][0]) for s in data["failure_scenarios"]
    ]
    assert lengths == sorted(lengths, reverse=True)
    # Express links exist and ride more than one fiber.
    assert any(len(link["fiber_path"]) > 1 for link in data["ip_links"])
    # Gold is the largest 30%.
    gold = [d["gbps"] for d in data["demands"] if d["cos"] == "gold"]
    bronze = [d["gbps"] for d in data["demands"] if d["cos"] == "bronze"]
    assert len(gold) == math.ceil(GOLD_FRACTION * len(data["demands"]))
    assert min(gold) >= max(bronze)


def test_abilene_geography_and_costs() -> None:
    data = import_graphml(shipped_topologies()["Abilene"])
    assert len(data["routers"]) == 11
    assert len(data["fibers"]) == 14
    fibers = {frozenset((f["a"], f["b"])): f for f in data["fibers"]}
    # New York - Chicago: ~1145 km great circle, x 1.2 route factor.
    ny_chi = fibers[frozenset(("New-York", "Chicago"))]
    assert 1300 < ny_chi["length_km"] < 1450
    assert ny_chi["spectrum_slots"] == 80
    link = next(x for x in data["ip_links"] if x["fiber_path"] == [ny_chi["name"]])
    assert link["cost_per_unit"] == pytest.approx(1 + ny_chi["length_km"] / 100, abs=1e-3)
    assert link["max_units"] == 64
    assert link["existing_units"] == 0


def test_options_seed_and_limits() -> None:
    path = shipped_topologies()["EliBackbone"]
    a = import_graphml(path, seed=3)
    assert a == import_graphml(path, seed=3)
    b = import_graphml(path, seed=4)
    assert a["demands"] != b["demands"]
    assert a["fibers"] == b["fibers"]
    assert a["ip_links"] == b["ip_links"]
    assert "seed 3" in a["name"]

    small = import_graphml(path, seed=3, max_scenarios=5, demand_pairs=20, capacity_unit_gbps=400.0)
    check_instance_dict(small)
    assert len(small["failure_scenarios"]) == 5
    assert small["failure_scenarios"] == a["failure_scenarios"][:5]
    assert len(small["demands"]) == 20
    assert small["capacity_unit_gbps"] == 400.0
    assert sum(d["cos"] == "gold" for d in small["demands"]) == 6
    with pytest.raises(ValueError, match="demand_pairs"):
        import_graphml(path, demand_pairs=0)
    with pytest.raises(ValueError, match="capacity_unit_gbps"):
        import_graphml(path, capacity_unit_gbps=0.0)


def test_traffic_needs_a_few_units() -> None:
    data = import_graphml(shipped_topologies()["Abilene"])
    total = sum(d["gbps"] for d in data["demands"])
    unit = data["capacity_unit_gbps"]
    # A few units per link: not trivially below one unit, not beyond the link limit.
    assert unit < total / len(data["fibers"]) < 40 * unit


def test_no_geo_tags_raise_value_error(tmp_path: Path) -> None:
    path = tmp_path / "NoGeo.graphml"
    path.write_text(NO_GEO)
    with pytest.raises(ValueError, match=r"NoGeo\.graphml"):
        import_graphml(path)
    bad = tmp_path / "Broken.graphml"
    bad.write_text("<graphml><graph>")
    with pytest.raises(ValueError, match=r"Broken\.graphml"):
        import_graphml(bad)


def test_messy_file_is_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "Messy.graphml"
    path.write_text(MESSY)
    topo = load_topology(path)
    # Node 4 has no coordinates, node 5 is cut off: both dropped.
    assert sorted(topo.dropped_nodes) == ["4", "5"]
    assert topo.router_of_node == {"0": "New-York-NY", "1": "New-York-NY-2", "2": "n2", "3": "Boston"}
    data = import_graphml(path)
    check_instance_dict(data)
    assert data["name"] == "topologyzoo:Messy (synthetic traffic, seed 0)"
    # Parallel edges collapse, the self-loop goes: 4 fibers; Boston's fiber is a bridge.
    assert len(data["fibers"]) == 4
    assert len(data["failure_scenarios"]) == 3
    assert all("Boston" not in s["name"] for s in data["failure_scenarios"])


def test_parse_instance_accepts_shipped() -> None:
    try:
        from problems.network_planning.problem import NetworkPlanningProblem
    except ImportError as exc:  # pragma: no cover - the problem kind is written in parallel
        pytest.skip(f"NetworkPlanningProblem not importable yet: {exc}")
    for path in shipped_topologies().values():
        instance = NetworkPlanningProblem.parse_instance(import_graphml(path))
        assert instance.name.startswith("topologyzoo:")


@pytest.mark.skipif(not ZOO_DIR.is_dir(), reason=f"{ZOO_DIR} (the full zoo subset) is not on this machine")
def test_every_zoo_file_imports_or_raises_value_error() -> None:
    files = sorted(ZOO_DIR.glob("*.graphml"))
    assert len(files) >= 200
    start = time.monotonic()
    imported = 0
    unnamed: list[str] = []
    for path in files:
        try:
            # Limits keep the big networks (hundreds of nodes) fast.
            data = import_graphml(path, demand_pairs=60, max_scenarios=8)
        except ValueError as exc:
            unnamed.extend([] if path.name in str(exc) else [f"{path.name}: {exc}"])
            continue
        check_instance_dict(data)
        imported += 1
    assert not unnamed, "ValueError without the file name"
    assert imported >= 150
    assert time.monotonic() - start < 30
