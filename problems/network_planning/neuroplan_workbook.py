"""Import a NeuroPlan Excel workbook (.xlsx) as a ``network-planning@1`` instance.

NeuroPlan (H. Zhu et al., "Network Planning with Deep Reinforcement Learning", SIGCOMM
2021; code at https://github.com/netx-repo/neuroplan) reads a topology from one workbook.
The sheets and the columns read here are those of NeuroPlan's loader
(``source/topology/topology.py``); column names are exact, extra columns are ignored, the
first row of a sheet is its header and empty rows are skipped:

=========  ================================================================================
Sheet      Columns (``*``: optional; ignored ones are read past)
=========  ================================================================================
Fibers     ``name``, ``src``, ``dst`` (optical nodes), ``rtt`` (the fiber's length, which
           NeuroPlan sums into a link's cost), ``max_fp`` and ``spectrum_size_ghz_per_fp``
           (their product is the fiber's spectrum in GHz, as NeuroPlan computes it)
Leases     ``name``, ``src``, ``dst``, ``rtt``, ``max_capacity_gbps`` (total Gbps of the
           links over it), ``min_capacity_gbps``\\* (ignored, as in NeuroPlan)
L3Nodes    ``name``, ``l1_node``\\* (must equal ``name``, as NeuroPlan asserts), ``stub``\\*
           (ignored: the schema has no stub routers)
L3Links    ``name``, ``src``, ``dst``, ``min_capacity_gbps`` (installed today),
           ``max_capacity_gbps``, ``fiber_name_map_spectrum`` (``fiber:ghz_per_gbps;...``,
           the fibers and leases the link rides), ``final_capacity_gbps``\\* and ``igp``\\*
           (ignored)
Flows      ``name``, ``src``, ``dst``, ``capacity_gbps``, ``cos`` (class of service)
Spofs      ``fiber_names`` (``a;b;...``, cut together), ``cos_to_protect``\\* (ignored: NeuroPlan's
           checker protects every class but ``BRONZE`` in every failure)
=========  ================================================================================

``Fibers``, ``L3Nodes``, ``L3Links`` and ``Flows`` are required; a workbook without a
``Leases`` or ``Spofs`` sheet has no leases or no listed shared-risk groups.

**Mapping.** Capacity is counted in units of ``capacity_unit_gbps`` (default
:data:`DEFAULT_UNIT_GBPS`, NeuroPlan's ILP step of 100 Gbps).

* **Routers**: the L3 nodes in sheet order, then the optical-only nodes that fibers and
  leases end at (no IP link ends there; they carry no traffic). No coordinates.
* **Fibers**: one per ``Fibers`` row: ``length_km`` = ``rtt`` (NeuroPlan's "length"; its
  unit is the workbook's), ``spectrum_slots`` = ``max_fp * spectrum_size_ghz_per_fp`` (one
  slot per GHz, rounded down). Each lease also becomes a fiber of the same name and ends
  (so that paths through it are contiguous) with enough slots never to bind.
* **Leases**: one per ``Leases`` row, ``max_units`` = ``max_capacity_gbps`` in whole units
  (rounded down); the IP links riding it name it. A link may ride at most one lease.
* **IP links**: one per ``L3Links`` row; ``fiber_path`` = the fibers and leases of
  ``fiber_name_map_spectrum`` put in order from ``src`` to ``dst``; ``existing_units`` =
  ``min_capacity_gbps`` in units rounded *up* (NeuroPlan installs the minimum and only
  adds); ``min_units`` = 0; ``max_units`` = ``max_capacity_gbps`` in units rounded down
  (at least ``existing_units``); ``cost_per_unit`` = the unit times the sum of ``rtt`` over
  the path (NeuroPlan's cost per Gbps); ``spectrum_per_unit`` = GHz per Gbps times the unit,
  rounded up, taking the largest GHz per Gbps over the path's fibers (conservative when the
  fibers differ; leases take no spectrum in NeuroPlan). The installed units must fit every
  fiber's spectrum and every lease, or the import fails.
* **Demands**: one per ``Flows`` row with positive ``capacity_gbps`` (``name``, ``src``,
  ``dst``, ``gbps``, ``cos`` as written). With ``max_demands`` only that many of the largest
  are kept (ties: sheet order), in sheet order.
* **Protected classes**: every class of the flows except ``BRONZE`` (any case), as in
  NeuroPlan, whose checker routes all traffic without failure and the non-bronze traffic in
  every failure.
* **Failure scenarios**: each ``Spofs`` row (named ``spof_<row index from 0>`` as in
  NeuroPlan), then, as NeuroPlan adds them, one single cut per ``Fibers`` fiber (not per
  lease), named ``cut-<fiber>``, skipping cuts that no IP link rides, that repeat a listed
  group, or that would cut a protected flow off (those would make the instance infeasible);
  at most ``max_scenarios`` in all, in that order. A listed group that cuts a protected
  flow off is an error.

Not modelled: NeuroPlan's load factor (0.8 of a link's capacity), stub routers, IGP
weights, lease minimums. Nothing is random or synthetic: the same workbook gives the same
instance. Errors are :class:`ValueError` naming the file, sheet, row and column, e.g.
``net.xlsx: sheet 'Flows' has no column 'dst'`` or
``net.xlsx: sheet 'Fibers' row 3 column 'rtt': expected a number, got 'far'``.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.chartsheet.chartsheet import Chartsheet
from openpyxl.utils.exceptions import InvalidFileException

from problems.network_planning.schema import Components

__all__ = ["DEFAULT_UNIT_GBPS", "REQUIRED_COLUMNS", "SHEETS", "import_workbook"]

DEFAULT_UNIT_GBPS = 100.0
"""Gbps per capacity unit unless the caller says otherwise (NeuroPlan's ILP step)."""

SHEETS = ("Fibers", "Leases", "L3Nodes", "L3Links", "Flows", "Spofs")
"""The sheets of a NeuroPlan workbook; ``Leases`` and ``Spofs`` may be absent."""

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "Fibers": ("name", "src", "dst", "rtt", "max_fp", "spectrum_size_ghz_per_fp"),
    "Leases": ("name", "src", "dst", "rtt", "max_capacity_gbps"),
    "L3Nodes": ("name",),
    "L3Links": ("name", "src", "dst", "min_capacity_gbps", "max_capacity_gbps", "fiber_name_map_spectrum"),
    "Flows": ("name", "src", "dst", "capacity_gbps", "cos"),
    "Spofs": ("fiber_names",),
}
"""The columns each sheet must have."""

_OPTIONAL_SHEETS = ("Leases", "Spofs")
_EPS = 1e-9


@dataclass(frozen=True)
class _Row:
    """One data row of a sheet; ``sheet_row`` is the spreadsheet's row number (header = 1)."""

    file: str
    sheet: str
    sheet_row: int
    values: dict[str, Any]

    def fail(self, message: str, column: str | None = None) -> ValueError:
        where = f"sheet {self.sheet!r} row {self.sheet_row}" + (f" column {column!r}" if column else "")
        return ValueError(f"{self.file}: {where}: {message}")

    def raw(self, column: str) -> Any:
        return self.values.get(column)

    def text(self, column: str) -> str:
        value = self.values.get(column)
        if isinstance(value, bool):
            raise self.fail(f"expected a name, got {value!r}", column)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = "" if value is None else str(value).strip()
        if not text:
            raise self.fail("empty cell", column)
        return text

    def number(self, column: str, *, minimum: float = 0.0) -> float:
        value = self.values.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise self.fail("empty cell", column)
        if isinstance(value, bool):
            raise self.fail(f"expected a number, got {value!r}", column)
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise self.fail(f"expected a number, got {value!r}", column) from None
        if not math.isfinite(x):
            raise self.fail(f"expected a finite number, got {value!r}", column)
        if x < minimum:
            raise self.fail(f"must be at least {minimum:g}, got {x:g}", column)
        return x


def _read_sheets(path: Path) -> dict[str, list[_Row]]:
    """The data rows of the NeuroPlan sheets present in the workbook, keyed by sheet."""
    file = path.name
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{file}: cannot read as an Excel workbook (.xlsx): {exc}") from exc
    except OSError as exc:
        raise ValueError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    try:
        sheets: dict[str, list[_Row]] = {}
        for name in SHEETS:
            if name not in workbook.sheetnames:
                if name in _OPTIONAL_SHEETS:
                    continue
                raise ValueError(
                    f"{file}: no sheet {name!r} (a NeuroPlan workbook has sheets {', '.join(SHEETS)}; "
                    f"found {', '.join(workbook.sheetnames) or 'none'})"
                )
            sheet = workbook[name]
            if isinstance(sheet, Chartsheet):
                raise ValueError(f"{file}: sheet {name!r} is a chart, not a table")
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            columns: dict[str, int] = {}
            for k, cell in enumerate(header or ()):
                label = "" if cell is None else str(cell).strip()
                if label:
                    columns.setdefault(label, k)
            for column in REQUIRED_COLUMNS[name]:
                if column not in columns:
                    raise ValueError(f"{file}: sheet {name!r} has no column {column!r}")
            data: list[_Row] = []
            for number, values in enumerate(rows, start=2):
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                cells = {c: values[k] if k < len(values) else None for c, k in columns.items()}
                data.append(_Row(file, name, number, cells))
            sheets[name] = data
        return sheets
    finally:
        workbook.close()


def _check_unique(rows: Sequence[_Row], names: Sequence[str], seen: dict[str, str] | None = None) -> None:
    first: dict[str, str] = {} if seen is None else seen
    for row, name in zip(rows, names, strict=True):
        where = f"sheet {row.sheet!r} row {row.sheet_row}"
        if name in first:
            raise row.fail(f"duplicate name {name!r} (also {first[name]})", "name")
        first[name] = where


def _order_path(row: _Row, src: str, dst: str, names: list[str], ends: dict[str, tuple[str, str]]) -> list[str]:
    """``names`` (fibers and leases) ordered as a walk from ``src`` to ``dst`` using each
    once (a depth-first search: paths are short)."""

    def walk(at: str, left: list[str]) -> list[str] | None:
        if not left:
            return [] if at == dst else None
        for k, name in enumerate(left):
            a, b = ends[name]
            if at in (a, b):
                rest = walk(b if at == a else a, left[:k] + left[k + 1 :])
                if rest is not None:
                    return [name, *rest]
        return None

    path = walk(src, names)
    if path is None:
        raise row.fail(f"{';'.join(names)} do not form a path from {src} to {dst}", "fiber_name_map_spectrum")
    return path


def import_workbook(
    path: Path,
    *,
    capacity_unit_gbps: float = DEFAULT_UNIT_GBPS,
    max_demands: int | None = None,
    max_scenarios: int | None = None,
) -> dict[str, Any]:
    """A ``network-planning@1`` instance (a JSON-ready dict) from the NeuroPlan workbook
    ``path``; see the module docstring for every rule. Raises :class:`ValueError` naming the
    file, the sheet, the row and the column at fault."""
    if not (capacity_unit_gbps > 0 and math.isfinite(capacity_unit_gbps)):
        raise ValueError(f"capacity_unit_gbps must be a positive number, not {capacity_unit_gbps}")
    if max_demands is not None and max_demands < 1:
        raise ValueError(f"max_demands must be at least 1, not {max_demands}")
    if max_scenarios is not None and max_scenarios < 0:
        raise ValueError(f"max_scenarios must be at least 0, not {max_scenarios}")
    path = Path(path)
    file = path.name
    unit = float(capacity_unit_gbps)
    sheets = _read_sheets(path)

    # Optical layer: fibers and leases share one namespace, as in NeuroPlan.
    optical_names: dict[str, str] = {}
    ends: dict[str, tuple[str, str]] = {}
    length: dict[str, float] = {}
    nodes_seen: list[str] = []
    fibers: list[dict[str, Any]] = []
    fiber_rows = sheets["Fibers"]
    if not fiber_rows:
        raise ValueError(f"{file}: sheet 'Fibers' has no rows")
    for kind in ("Fibers", "Leases"):
        rows = sheets.get(kind, [])
        names = [row.text("name") for row in rows]
        _check_unique(rows, names, optical_names)
        for row, name in zip(rows, names, strict=True):
            a, b = row.text("src"), row.text("dst")
            if a == b:
                raise row.fail(f"both ends are {a!r}", "dst")
            ends[name] = (a, b)
            length[name] = row.number("rtt")
            nodes_seen.extend(n for n in (a, b) if n not in nodes_seen)
            if kind == "Fibers":
                slots = math.floor(row.number("max_fp") * row.number("spectrum_size_ghz_per_fp") + _EPS)
                fibers.append({"name": name, "a": a, "b": b, "length_km": length[name], "spectrum_slots": slots})
    fiber_names = {f["name"] for f in fibers}
    leases: list[dict[str, Any]] = []
    lease_row: dict[str, _Row] = {}
    for row in sheets.get("Leases", []):
        name = row.text("name")
        lease_row[name] = row
        leases.append({"name": name, "max_units": math.floor(row.number("max_capacity_gbps") / unit + _EPS)})

    # Routers.
    router_rows = sheets["L3Nodes"]
    router_names = [row.text("name") for row in router_rows]
    _check_unique(router_rows, router_names)
    for row, name in zip(router_rows, router_names, strict=True):
        if row.raw("l1_node") is not None and row.text("l1_node") != name:
            raise row.fail(f"l1_node {row.text('l1_node')!r} differs from name {name!r} (NeuroPlan needs them equal)")
    routers = list(router_names) + [n for n in nodes_seen if n not in router_names]
    l3 = set(router_names)
    if len(routers) < 2:
        raise ValueError(f"{file}: sheet 'L3Nodes' has {len(router_names)} router(s); at least 2 are needed")

    # IP links.
    link_rows = sheets["L3Links"]
    if not link_rows:
        raise ValueError(f"{file}: sheet 'L3Links' has no rows")
    link_names = [row.text("name") for row in link_rows]
    _check_unique(link_rows, link_names)
    ip_links: list[dict[str, Any]] = []
    for row, name in zip(link_rows, link_names, strict=True):
        src, dst = row.text("src"), row.text("dst")
        for column, router in (("src", src), ("dst", dst)):
            if router not in l3:
                raise row.fail(f"unknown L3 node {router!r} (not in sheet 'L3Nodes')", column)
        if src == dst:
            raise row.fail(f"both ends are {src!r}", "dst")
        ghz_per_gbps: dict[str, float] = {}
        for item in str(row.raw("fiber_name_map_spectrum") or "").split(";"):
            if not item.strip():
                continue
            optic, colon, value = item.partition(":")
            optic = optic.strip()
            if optic not in ends:
                raise row.fail(f"unknown fiber or lease {optic!r}", "fiber_name_map_spectrum")
            try:
                ghz = float(value) if colon else math.nan
            except ValueError:
                ghz = math.nan
            if not (math.isfinite(ghz) and ghz >= 0):
                raise row.fail(f"{item.strip()!r} is not 'fiber:ghz_per_gbps'", "fiber_name_map_spectrum")
            if optic in ghz_per_gbps:
                raise row.fail(f"{optic!r} appears twice", "fiber_name_map_spectrum")
            ghz_per_gbps[optic] = ghz
        if not ghz_per_gbps:
            raise row.fail("empty cell", "fiber_name_map_spectrum")
        path_names = _order_path(row, src, dst, list(ghz_per_gbps), ends)
        on_leases = [n for n in path_names if n in lease_row]
        if len(on_leases) > 1:
            raise row.fail(
                f"rides leases {', '.join(on_leases)}; network-planning@1 allows one lease per link",
                "fiber_name_map_spectrum",
            )
        low, high = row.number("min_capacity_gbps"), row.number("max_capacity_gbps")
        if high < low:
            raise row.fail(f"{high:g} is below min_capacity_gbps {low:g}", "max_capacity_gbps")
        existing = math.ceil(low / unit - _EPS)
        spectrum = max((ghz_per_gbps[n] for n in path_names if n in fiber_names), default=0.0)
        ip_links.append(
            {
                "name": name,
                "a": src,
                "b": dst,
                "fiber_path": path_names,
                "existing_units": existing,
                "min_units": 0,
                "max_units": max(existing, math.floor(high / unit + _EPS)),
                "cost_per_unit": float(f"{unit * sum(length[n] for n in path_names):.12g}"),
                "spectrum_per_unit": max(1, math.ceil(spectrum * unit - _EPS)),
                "lease": on_leases[0] if on_leases else None,
            }
        )

    # Installed units must fit: spectrum on fibers, units on leases.
    for fiber in fibers:
        used = sum(x["existing_units"] * x["spectrum_per_unit"] for x in ip_links if fiber["name"] in x["fiber_path"])
        if used > fiber["spectrum_slots"]:
            row = next(r for r in fiber_rows if r.text("name") == fiber["name"])
            raise row.fail(
                f"fiber {fiber['name']!r} has {fiber['spectrum_slots']} GHz of spectrum but its links' installed "
                f"capacity (min_capacity_gbps in {unit:g} Gbps units, rounded up) takes {used}"
            )
    for lease in leases:
        held = sum(x["existing_units"] for x in ip_links if x["lease"] == lease["name"])
        if held > lease["max_units"]:
            raise lease_row[lease["name"]].fail(
                f"lease {lease['name']!r} allows {lease['max_units']} units of {unit:g} Gbps but its links' "
                f"installed capacity (min_capacity_gbps, rounded up) is {held} units"
            )
        fibers.append(
            {
                "name": lease["name"],
                "a": ends[lease["name"]][0],
                "b": ends[lease["name"]][1],
                "length_km": length[lease["name"]],
                "spectrum_slots": sum(
                    x["max_units"] * x["spectrum_per_unit"] for x in ip_links if lease["name"] in x["fiber_path"]
                ),
            }
        )

    # Demands.
    flow_rows = sheets["Flows"]
    flow_names = [row.text("name") for row in flow_rows]
    _check_unique(flow_rows, flow_names)
    whole = Components(routers, [(x["a"], x["b"]) for x in ip_links])
    flows: list[tuple[_Row, dict[str, Any]]] = []
    for row, name in zip(flow_rows, flow_names, strict=True):
        src, dst, cos = row.text("src"), row.text("dst"), row.text("cos")
        for column, router in (("src", src), ("dst", dst)):
            if router not in l3:
                raise row.fail(f"unknown L3 node {router!r} (not in sheet 'L3Nodes')", column)
        if src == dst:
            raise row.fail(f"flow {name!r} starts and ends at {src!r}", "dst")
        gbps = row.number("capacity_gbps")
        if gbps <= 0:
            continue
        if not whole.joined(src, dst):
            raise row.fail(f"flow {name!r} from {src} to {dst}: no path over the L3 links (disconnected)")
        flows.append((row, {"name": name, "src": src, "dst": dst, "gbps": gbps, "cos": cos}))
    if not flows:
        raise ValueError(f"{file}: sheet 'Flows' has no flow with a positive capacity_gbps")
    if max_demands is not None and len(flows) > max_demands:
        largest = sorted(range(len(flows)), key=lambda k: (-flows[k][1]["gbps"], k))[:max_demands]
        flows = [flows[k] for k in sorted(largest)]
    protected = sorted({d["cos"] for _, d in flows if d["cos"].upper() != "BRONZE"})
    protected_flows = [(row, d) for row, d in flows if d["cos"] in protected]

    def cut_off(cut: set[str]) -> tuple[_Row, dict[str, Any]] | None:
        parts = Components(routers, [(x["a"], x["b"]) for x in ip_links if not cut & set(x["fiber_path"])])
        return next(((r, d) for r, d in protected_flows if not parts.joined(d["src"], d["dst"])), None)

    # Failure scenarios: the listed groups, then NeuroPlan's single fiber cuts.
    scenarios: list[dict[str, Any]] = []
    groups: set[frozenset[str]] = set()
    for index, row in enumerate(sheets.get("Spofs", [])):
        names = [n.strip() for n in str(row.raw("fiber_names") or "").split(";") if n.strip()]
        if not names:
            raise row.fail("empty cell", "fiber_names")
        for name in names:
            if name not in ends:
                raise row.fail(f"unknown fiber or lease {name!r}", "fiber_names")
        lost = cut_off(set(names))
        if lost is not None:
            _, flow = lost
            raise row.fail(
                f"cutting {';'.join(names)} leaves protected flow {flow['name']!r} ({flow['cos']}) from "
                f"{flow['src']} to {flow['dst']} without a path",
                "fiber_names",
            )
        scenarios.append({"name": f"spof_{index}", "fibers": list(dict.fromkeys(names))})
        groups.add(frozenset(names))
    ridden = {n for x in ip_links for n in x["fiber_path"]}
    taken = {s["name"] for s in scenarios}
    for fiber in fibers:
        name = fiber["name"]
        if name not in fiber_names or name not in ridden or frozenset((name,)) in groups:
            continue
        if cut_off({name}) is not None:
            continue
        scenario_name, k = f"cut-{name}", 2
        while scenario_name in taken:
            scenario_name, k = f"cut-{name}-{k}", k + 1
        taken.add(scenario_name)
        scenarios.append({"name": scenario_name, "fibers": [name]})
    if max_scenarios is not None:
        scenarios = scenarios[:max_scenarios]

    return {
        "name": f"neuroplan:{path.stem}",
        "capacity_unit_gbps": unit,
        "routers": [{"name": r} for r in routers],
        "fibers": fibers,
        "ip_links": ip_links,
        "leases": leases,
        "demands": [d for _, d in flows],
        "protected_classes": protected,
        "failure_scenarios": scenarios,
    }
