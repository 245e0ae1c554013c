"""Unit tests of the SNDlib and NeuroPlan workbook importers of ``network-planning@1`` and
of ``designsvc import-topology`` with them (and its caps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from designsvc.cli import app
from designsvc.core.plugins import SOLVERS
from designsvc.core.types import SolverConfig, Termination
from problems.network_planning import NetworkPlanningProblem
from problems.network_planning.model import build_model, extract_design
from problems.network_planning.neuroplan_workbook import import_workbook
from problems.network_planning.sndlib import import_sndlib, parse_sndlib
from problems.network_planning.topologyzoo import DATA_DIR
from problems.network_planning.verify import verify

SNDLIB_EXAMPLE = DATA_DIR / "example-sndlib.txt"
ABILENE = DATA_DIR / "Abilene.graphml"


def solve_and_verify(data: dict[str, Any]) -> dict[str, int]:
    """Validate ``data``, solve it with HiGHS, and check the plan with the independent verifier."""
    instance = NetworkPlanningProblem.parse_instance(data)
    model = build_model(instance)
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=60))
    assert result.termination is Termination.OPTIMAL, result.message
    design = extract_design(instance, model)
    check = verify(instance, design["units"])
    assert check.feasible, check
    assert NetworkPlanningProblem(instance).evaluate(design).feasible
    units: dict[str, int] = design["units"]
    return units


# --- SNDlib ----------------------------------------------------------------------------------

SMALL_SNDLIB = """?SNDlib native format; type: network; version: 1.0
# network tiny
NODES (
  A ( 500 20 )   # not geographic: coordinates are left out
  B ( 1 2 )
  C (3 4)
)
LINKS (
  AB ( A B ) 12.5 0 0.5 0 ( )
  BC ( B C ) 0 0 0 0
  CA ( C A ) 0 0 0 0 ( 100 40 400 100 )
)
DEMANDS (
  d1 ( A C ) 1 30 UNLIMITED
  d2 ( B A ) 1 70.5 UNLIMITED
)
"""


def write_text(tmp_path: Path, text: str, name: str = "net.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sndlib_example_maps_units_costs_and_scenarios() -> None:
    data = import_sndlib(SNDLIB_EXAMPLE)
    assert data["name"].startswith("sndlib:example-de7 (values in MBITPERSEC")
    # The smallest module is 10000 Mbit/s.
    assert data["capacity_unit_gbps"] == 10.0
    routers = {r["name"]: r for r in data["routers"]}
    assert routers["Berlin"] == {"name": "Berlin", "lat": 52.52, "lon": 13.40}
    links = {x["name"]: x for x in data["ip_links"]}
    fibers = {f["name"]: f for f in data["fibers"]}
    assert set(links) == set(fibers) == {link.id for link in parse_sndlib(SNDLIB_EXAMPLE).links}
    # 10 Gbit/s pre-installed = 1 unit; the 40G module is cheaper per Gbps: 9.0 / 40 * 10.
    assert links["Berlin_Hamburg"]["existing_units"] == 1
    assert links["Berlin_Hamburg"]["cost_per_unit"] == pytest.approx(2.25)
    assert links["Berlin_Hamburg"]["fiber_path"] == ["Berlin_Hamburg"]
    # Berlin-Hamburg is ~255 km great circle, x 1.2.
    assert 290 < fibers["Berlin_Hamburg"]["length_km"] < 320
    # The zero demand is dropped; values are converted to Gbps.
    demands = {d["name"]: d for d in data["demands"]}
    assert "Cologne_Munich" not in demands
    assert demands["Berlin_Frankfurt"]["gbps"] == 6.5
    total = sum(d["gbps"] for d in data["demands"])
    assert total == pytest.approx(41.8)
    assert all(x["max_units"] == 5 for x in data["ip_links"])  # 41.8 Gbps in 10 Gbps units
    assert all(fibers[x["name"]]["spectrum_slots"] >= x["max_units"] for x in data["ip_links"])
    # Leipzig-Dresden is a bridge: every other fiber gets a cut, longest first.
    cut = [s["fibers"][0] for s in data["failure_scenarios"]]
    assert "Leipzig_Dresden" not in cut
    assert len(cut) == len(fibers) - 1
    assert [fibers[f]["length_km"] for f in cut] == sorted((fibers[f]["length_km"] for f in cut), reverse=True)
    assert {d["cos"] for d in data["demands"]} == {"gold"}
    assert data["protected_classes"] == ["gold"]
    units = solve_and_verify(data)
    assert units["Berlin_Hamburg"] >= 1


def test_sndlib_example_is_documented_as_synthetic() -> None:
    readme = (DATA_DIR / "README.md").read_text()
    assert "example-sndlib.txt" in readme
    assert "synthetic" in readme
    assert "SYNTHETIC" in SNDLIB_EXAMPLE.read_text()


def test_sndlib_without_unit_geo_or_modules(tmp_path: Path) -> None:
    data = import_sndlib(write_text(tmp_path, SMALL_SNDLIB))
    assert "assumed Gbps" in data["name"]
    assert data["name"].startswith("sndlib:tiny ")
    # One node is out of range: no coordinates at all.
    assert data["routers"] == [{"name": "A"}, {"name": "B"}, {"name": "C"}]
    assert all(f["length_km"] == 0 for f in data["fibers"])
    assert data["capacity_unit_gbps"] == 100.0
    links = {x["name"]: x for x in data["ip_links"]}
    # AB: no module, routing cost 0.5 per Gbps; BC: no module list and no cost: 1 per unit.
    assert links["AB"]["cost_per_unit"] == 50.0
    assert links["AB"]["existing_units"] == 1  # 12.5 Gbps rounds up to one unit
    assert links["BC"]["cost_per_unit"] == 1.0
    assert links["CA"]["cost_per_unit"] == 25.0  # 100 per 400 Gbps
    assert all(x["max_units"] == 2 for x in data["ip_links"])  # 100.5 Gbps in all
    # A triangle: every cut keeps it connected.
    assert len(data["failure_scenarios"]) == 3
    solve_and_verify(data)


def test_sndlib_caps(tmp_path: Path) -> None:
    full = import_sndlib(SNDLIB_EXAMPLE)
    capped = import_sndlib(SNDLIB_EXAMPLE, max_demands=3, max_scenarios=2)
    # The three largest demands, in file order.
    assert [d["name"] for d in capped["demands"]] == ["Berlin_Frankfurt", "Frankfurt_Berlin", "Frankfurt_Munich"]
    assert capped["failure_scenarios"] == full["failure_scenarios"][:2]
    assert all(x["max_units"] == 2 for x in capped["ip_links"])  # 17.5 Gbps
    solve_and_verify(capped)
    assert import_sndlib(SNDLIB_EXAMPLE, max_scenarios=0)["failure_scenarios"] == []
    with pytest.raises(ValueError, match="max_demands"):
        import_sndlib(SNDLIB_EXAMPLE, max_demands=0)


def sndlib_with(nodes: str, links: str, demands: str, meta: str = "") -> str:
    return f"{meta}NODES (\n{nodes}\n)\nLINKS (\n{links}\n)\nDEMANDS (\n{demands}\n)\n"


GOOD_NODES = "  A ( 1 1 )\n  B ( 2 2 )\n  C ( 3 3 )\n  X ( 4 4 )"
GOOD_LINKS = "  L1 ( A B ) 0 0 0 0 ( 10 1 )\n  L2 ( B C ) 0 0 0 0 ( 10 1 )\n  L3 ( C A ) 0 0 0 0 ( 10 1 )"
GOOD_DEMANDS = "  D1 ( A C ) 1 5 UNLIMITED"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"LINKS (\n{GOOD_LINKS}\n)\nDEMANDS (\n{GOOD_DEMANDS}\n)\n", r"net\.txt: missing section NODES"),
        (f"NODES (\n{GOOD_NODES}\n)\nLINKS (\n{GOOD_LINKS}\n)\n", "missing section DEMANDS"),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS.replace("L3 ( C A )", "L3 ( C Y )"), GOOD_DEMANDS),
            r"net\.txt: line 10: link L3 names unknown node Y",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS, GOOD_DEMANDS + "\n  D4 ( A X ) 1 2 UNLIMITED"),
            r"line 14: demand D4 between disconnected nodes A and X",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS, "  D1 ( A Q ) 1 5 UNLIMITED"),
            r"line 13: demand D1 names unknown node Q",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS.replace("( B C ) 0 0", "( B C ) lots 0"), GOOD_DEMANDS),
            r"line 9: link L2: pre-installed capacity must be a number, not 'lots'",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS.replace("( 10 1 )\n  L2", "( 10 )\n  L2"), GOOD_DEMANDS),
            r"line 8: link L1: module of capacity 10 has no cost",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS.replace("L2 (", "L1 ("), GOOD_DEMANDS),
            r"line 9: duplicate link id L1 \(also on line 8\)",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS.replace("L2 ( B C )", "L2 ( B B )"), GOOD_DEMANDS),
            "link L2 has node B at both ends",
        ),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS, GOOD_DEMANDS, meta="META (\n  unit = FURLONGS\n)\n"),
            r"line 2: META unit 'FURLONGS' is not one of",
        ),
        ("NODES (\n  A ( 1 1 )\n", r"line 1: section NODES is not closed"),
        (
            sndlib_with(GOOD_NODES, GOOD_LINKS, "  D1 ( A C ) 1 0 UNLIMITED"),
            "section DEMANDS has no demand with a positive value",
        ),
    ],
)
def test_sndlib_errors_name_the_line_and_element(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        import_sndlib(write_text(tmp_path, text))


def test_sndlib_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\xff\xfe\x00NODES")
    with pytest.raises(ValueError, match=r"binary\.txt: not a text file"):
        import_sndlib(path)


# --- NeuroPlan workbook ---------------------------------------------------------------------


def workbook_sheets() -> dict[str, list[list[Any]]]:
    """A square A-B-C-D of fibers, a leased A-C wavelength, an express B-D link over two
    fibers (listed out of order), flows of three classes, one listed shared-risk group."""
    return {
        "Fibers": [
            ["name", "src", "dst", "rtt", "max_fp", "spectrum_size_ghz_per_fp"],
            ["F_AB", "A", "B", 10, 1, 400],
            ["F_BC", "B", "C", 12, 1, 400],
            ["F_CD", "C", "D", 8, 1, 400],
            ["F_DA", "D", "A", 11, 2, 200],
        ],
        "Leases": [
            ["name", "src", "dst", "rtt", "min_capacity_gbps", "max_capacity_gbps"],
            ["LS_AC", "A", "C", 25, 0, 300],
        ],
        "L3Nodes": [["name", "l1_node", "stub"], ["A", "A", False], ["B", "B", False], ["C", "C", True], ["D", "D", 0]],
        "L3Links": [
            ["name", "src", "dst", "min_capacity_gbps", "max_capacity_gbps", "fiber_name_map_spectrum", "igp"],
            ["AB", "A", "B", 100, 800, "F_AB:0.5", 10],
            ["BC", "B", "C", 0, 800, "F_BC:0.5", 10],
            ["CD", "C", "D", 150, 800, "F_CD:0.5", 10],
            ["DA", "D", "A", 0, 800, "F_DA:0.25", 10],
            ["AC", "A", "C", 0, 300, "LS_AC:0", 10],
            ["BD", "B", "D", 0, 400, "F_CD:0.5;F_BC:1", 20],
        ],
        "Flows": [
            ["name", "src", "dst", "capacity_gbps", "cos"],
            ["f1", "A", "C", 250, "GOLD"],
            ["f2", "B", "D", 150, "SILVER"],
            ["f3", "C", "A", 100.5, "BRONZE"],
            ["f4", "D", "B", 0, "GOLD"],
            [None, None, None, None, None],
        ],
        "Spofs": [["fiber_names", "cos_to_protect"], ["F_AB;F_CD", "GOLD;SILVER"]],
    }


def write_workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "square.xlsx", workbook_sheets())


def test_workbook_maps_every_sheet(workbook: Path) -> None:
    data = import_workbook(workbook)
    assert data["name"] == "neuroplan:square"
    assert data["capacity_unit_gbps"] == 100.0
    assert [r["name"] for r in data["routers"]] == ["A", "B", "C", "D"]
    fibers = {f["name"]: f for f in data["fibers"]}
    assert fibers["F_AB"] == {"name": "F_AB", "a": "A", "b": "B", "length_km": 10, "spectrum_slots": 400}
    assert fibers["F_DA"]["spectrum_slots"] == 400
    # The lease is a fiber too (so paths are contiguous), with slots that never bind.
    assert fibers["LS_AC"]["spectrum_slots"] == 3
    assert data["leases"] == [{"name": "LS_AC", "max_units": 3}]
    links = {x["name"]: x for x in data["ip_links"]}
    assert links["AB"]["existing_units"] == 1
    assert links["CD"]["existing_units"] == 2  # 150 Gbps rounds up to 2 units of 100
    assert links["AB"]["max_units"] == 8
    assert links["AB"]["spectrum_per_unit"] == 50  # 0.5 GHz/Gbps x 100 Gbps
    assert links["AB"]["cost_per_unit"] == 1000  # rtt 10 per Gbps x 100 Gbps
    assert links["AC"] | {"fiber_path": None} == {
        "name": "AC",
        "a": "A",
        "b": "C",
        "fiber_path": None,
        "existing_units": 0,
        "min_units": 0,
        "max_units": 3,
        "cost_per_unit": 2500,
        "spectrum_per_unit": 1,
        "lease": "LS_AC",
    }
    # The express link's fibers are put in path order; the largest GHz/Gbps counts.
    assert links["BD"]["fiber_path"] == ["F_BC", "F_CD"]
    assert links["BD"]["spectrum_per_unit"] == 100
    assert links["BD"]["cost_per_unit"] == 2000
    assert links["BD"]["lease"] is None
    # Zero and empty flows are skipped; classes as written; all but bronze protected.
    assert [(d["name"], d["gbps"], d["cos"]) for d in data["demands"]] == [
        ("f1", 250, "GOLD"),
        ("f2", 150, "SILVER"),
        ("f3", 100.5, "BRONZE"),
    ]
    assert data["protected_classes"] == ["GOLD", "SILVER"]
    # The listed group first, then NeuroPlan's single cuts of real fibers (not the lease).
    assert data["failure_scenarios"] == [
        {"name": "spof_0", "fibers": ["F_AB", "F_CD"]},
        {"name": "cut-F_AB", "fibers": ["F_AB"]},
        {"name": "cut-F_BC", "fibers": ["F_BC"]},
        {"name": "cut-F_CD", "fibers": ["F_CD"]},
        {"name": "cut-F_DA", "fibers": ["F_DA"]},
    ]
    units = solve_and_verify(data)
    assert units["AB"] >= 1
    assert units["CD"] >= 2
    assert units["AC"] <= 3


def test_workbook_optional_sheets_caps_and_skipped_cuts(tmp_path: Path) -> None:
    sheets = workbook_sheets()
    del sheets["Leases"], sheets["Spofs"]
    sheets["L3Links"] = [row for row in sheets["L3Links"] if row[0] not in ("AC", "BD")]
    # A stub router E on a single fiber: cutting that fiber would cut a protected flow off.
    sheets["Fibers"].append(["F_AE", "A", "E", 5, 1, 400])
    sheets["L3Nodes"].append(["E", "E", True])
    sheets["L3Links"].append(["AE", "A", "E", 0, 400, "F_AE:0.5", 10])
    sheets["Flows"].append(["f5", "E", "C", 50, "GOLD"])
    path = write_workbook(tmp_path / "ring.xlsx", sheets)
    data = import_workbook(path)
    assert data["leases"] == []
    assert [s["name"] for s in data["failure_scenarios"]] == ["cut-F_AB", "cut-F_BC", "cut-F_CD", "cut-F_DA"]
    solve_and_verify(data)

    capped = import_workbook(path, max_demands=2, max_scenarios=1)
    assert [d["name"] for d in capped["demands"]] == ["f1", "f2"]
    assert [s["name"] for s in capped["failure_scenarios"]] == ["cut-F_AB"]
    solve_and_verify(capped)
    assert import_workbook(path, capacity_unit_gbps=50)["capacity_unit_gbps"] == 50.0


def edit(sheet: str, row: int, column: str, value: Any) -> Any:
    def change(sheets: dict[str, list[list[Any]]]) -> None:
        sheets[sheet][row][sheets[sheet][0].index(column)] = value

    return change


def drop_column(sheet: str, column: str) -> Any:
    def change(sheets: dict[str, list[list[Any]]]) -> None:
        k = sheets[sheet][0].index(column)
        for row in sheets[sheet]:
            del row[k]

    return change


def add_row(sheet: str, row: list[Any]) -> Any:
    def change(sheets: dict[str, list[list[Any]]]) -> None:
        sheets[sheet].append(row)

    return change


def drop_sheet(sheet: str) -> Any:
    def change(sheets: dict[str, list[list[Any]]]) -> None:
        del sheets[sheet]

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (drop_sheet("Flows"), r"square\.xlsx: no sheet 'Flows'"),
        (drop_sheet("L3Links"), "no sheet 'L3Links'"),
        (drop_column("Flows", "dst"), r"square\.xlsx: sheet 'Flows' has no column 'dst'"),
        (drop_column("L3Links", "fiber_name_map_spectrum"), "sheet 'L3Links' has no column 'fiber_name_map_spectrum'"),
        (edit("Fibers", 2, "rtt", "far"), r"sheet 'Fibers' row 3 column 'rtt': expected a number, got 'far'"),
        (edit("Flows", 1, "capacity_gbps", None), r"sheet 'Flows' row 2 column 'capacity_gbps': empty cell"),
        (edit("Flows", 2, "capacity_gbps", -5), r"sheet 'Flows' row 3 column 'capacity_gbps': must be at least 0"),
        (edit("Flows", 3, "src", "Z"), r"sheet 'Flows' row 4 column 'src': unknown L3 node 'Z'"),
        (edit("L3Links", 1, "fiber_name_map_spectrum", "F_XY:1"), r"row 2 column 'fiber_name_map_spectrum': unknown"),
        (edit("L3Links", 1, "fiber_name_map_spectrum", "F_AB"), r"'F_AB' is not 'fiber:ghz_per_gbps'"),
        (edit("L3Links", 1, "fiber_name_map_spectrum", "F_BC:1"), r"row 2 .*F_BC do not form a path from A to B"),
        (
            edit("L3Links", 3, "max_capacity_gbps", 10),
            r"row 4 column 'max_capacity_gbps': 10 is below min_capacity_gbps 150",
        ),
        (edit("L3Nodes", 2, "l1_node", "Q"), r"sheet 'L3Nodes' row 3: l1_node 'Q' differs from name 'B'"),
        (edit("Fibers", 3, "name", "F_AB"), r"sheet 'Fibers' row 4 column 'name': duplicate name 'F_AB'"),
        (edit("Leases", 1, "name", "F_AB"), r"sheet 'Leases' row 2 column 'name': duplicate name 'F_AB'"),
        (edit("Spofs", 1, "fiber_names", "F_AB;F_BC"), r"sheet 'Spofs' row 2 column 'fiber_names': cutting F_AB;F_BC"),
        (edit("Spofs", 1, "fiber_names", "F_AB;F_QQ"), r"unknown fiber or lease 'F_QQ'"),
        (edit("Leases", 1, "max_capacity_gbps", 50), None),
        (edit("Fibers", 3, "max_fp", 0), r"sheet 'Fibers' row 4: fiber 'F_CD' has 0 GHz of spectrum"),
        (edit("Flows", 2, "src", "D"), r"flow 'f2' starts and ends at 'D'"),
    ],
)
def test_workbook_errors_name_sheet_row_and_column(tmp_path: Path, change: Any, message: str | None) -> None:
    sheets = workbook_sheets()
    change(sheets)
    path = write_workbook(tmp_path / "square.xlsx", sheets)
    if message is None:  # a lease below what is installed is fine when nothing is installed on it
        NetworkPlanningProblem.parse_instance(import_workbook(path))
        return
    with pytest.raises(ValueError, match=message):
        import_workbook(path)


def test_workbook_disconnected_flow_and_lease_limits(tmp_path: Path) -> None:
    sheets = workbook_sheets()
    sheets["Fibers"].append(["F_EF", "E", "F", 5, 1, 400])
    sheets["L3Nodes"] += [["E", "E", False], ["F", "F", False]]
    sheets["L3Links"].append(["EF", "E", "F", 0, 400, "F_EF:0.5", 10])
    sheets["Flows"].append(["f9", "A", "F", 10, "BRONZE"])
    with pytest.raises(ValueError, match=r"sheet 'Flows' row 7: flow 'f9' from A to F: no path .*disconnected"):
        import_workbook(write_workbook(tmp_path / "split.xlsx", sheets))

    sheets = workbook_sheets()
    sheets["Leases"][1][-1] = 50  # below the 100 Gbps already installed on it
    sheets["L3Links"][5][3] = 100
    with pytest.raises(ValueError, match=r"sheet 'Leases' row 2: lease 'LS_AC' allows 0 units"):
        import_workbook(write_workbook(tmp_path / "lease.xlsx", sheets))

    sheets = workbook_sheets()
    sheets["Fibers"].append(["F_AE", "A", "E", 5, 1, 400])  # E: an optical-only node
    sheets["L3Links"].append(["BD2", "B", "D", 0, 100, "F_CD:1;LS_AC:0;F_AB:1", 10])
    data = import_workbook(write_workbook(tmp_path / "one-lease.xlsx", sheets))
    assert [r["name"] for r in data["routers"]] == ["A", "B", "C", "D", "E"]
    # B-A (fiber), A-C (lease), C-D (fiber): put in order, one lease is fine.
    link = next(x for x in data["ip_links"] if x["name"] == "BD2")
    assert link["fiber_path"] == ["F_AB", "LS_AC", "F_CD"]
    assert link["lease"] == "LS_AC"
    assert link["spectrum_per_unit"] == 100
    solve_and_verify(data)


def test_workbook_rejects_two_leases_and_non_workbooks(tmp_path: Path) -> None:
    sheets = workbook_sheets()
    sheets["Leases"].append(["LS_CD", "C", "D", 5, 0, 300])
    sheets["L3Links"].append(["AD2", "A", "D", 0, 100, "LS_AC:0;LS_CD:0", 10])
    with pytest.raises(ValueError, match=r"row 8 .*rides leases LS_AC, LS_CD; network-planning@1 allows one lease"):
        import_workbook(write_workbook(tmp_path / "two.xlsx", sheets))
    text = write_text(tmp_path, "not a workbook", "fake.xlsx")
    with pytest.raises(ValueError, match=r"fake\.xlsx: cannot read as an Excel workbook"):
        import_workbook(text)


# --- the command line ----------------------------------------------------------------------


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def import_and_validate(tmp_path: Path, *args: str) -> dict[str, Any]:
    result = cli("import-topology", *args)
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)
    assert spec["problem"] == "network-planning@1"
    assert "instance_ref" not in spec
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = cli("validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("valid: network-planning@1")
    instance: dict[str, Any] = spec["instance"]
    return instance


def test_cli_imports_sndlib_and_neuroplan_with_caps(tmp_path: Path, workbook: Path) -> None:
    instance = import_and_validate(tmp_path, str(SNDLIB_EXAMPLE), "--format", "sndlib")
    assert instance["name"].startswith("sndlib:example-de7")
    assert len(instance["demands"]) == 11
    # The suffix picks the format; the caps cut demands and scenarios.
    instance = import_and_validate(tmp_path, str(SNDLIB_EXAMPLE), "--max-demands", "4", "--max-scenarios", "3")
    assert len(instance["demands"]) == 4
    assert len(instance["failure_scenarios"]) == 3

    instance = import_and_validate(tmp_path, str(workbook), "--format", "neuroplan")
    assert instance["name"] == "neuroplan:square"
    assert len(instance["failure_scenarios"]) == 5
    instance = import_and_validate(tmp_path, str(workbook), "--max-demands", "1", "--max-scenarios", "2")
    assert [d["name"] for d in instance["demands"]] == ["f1"]
    assert [s["name"] for s in instance["failure_scenarios"]] == ["spof_0", "cut-F_AB"]

    instance = import_and_validate(tmp_path, str(ABILENE), "--max-demands", "7", "--max-scenarios", "2")
    assert len(instance["demands"]) == 7
    assert len(instance["failure_scenarios"]) == 2


def test_cli_errors(tmp_path: Path) -> None:
    bad = write_text(tmp_path, sndlib_with(GOOD_NODES, GOOD_LINKS.replace("( C A )", "( C Y )"), GOOD_DEMANDS))
    result = cli("import-topology", str(bad))
    assert result.exit_code == 2
    assert f"error: {bad}: line 10: link L3 names unknown node Y" in result.output
    assert result.stdout == ""
    result = cli("import-topology", str(SNDLIB_EXAMPLE), "--max-demands", "0")
    assert result.exit_code == 2
    other = write_text(tmp_path, "x", "net.dat")
    result = cli("import-topology", str(other))
    assert result.exit_code == 2
    assert "give --format (graphml, neuroplan, sndlib)" in result.output
