"""The ground-truth evaluator of ``network-planning@1`` designs, independent of Pyomo.

A design is JSON: ``{"units": {link_name: total_units, ...}}`` with every IP link (a missing
link counts as its existing units and is a violation). Its objective is the added cost
``sum cost_per_unit * (units - existing_units)`` (currency). It is feasible iff every link's
units are integers within ``[max(existing, min_units), max_units]``, every fiber's spectrum
and every lease's limit hold, and the independent verifier
(:mod:`problems.network_planning.verify`) routes all required traffic in every scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from designsvc.core.problem import design_member
from designsvc.core.types import Evaluation
from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["ParsedDesign", "design_cost", "evaluate", "parse_design"]


@dataclass(frozen=True)
class ParsedDesign:
    """``units[l]``: the total units of link ``l`` (``None`` when missing or malformed);
    ``issues`` one line per missing or malformed entry; ``malformed`` those about unknown
    names or values that are not integers."""

    units: tuple[int | None, ...]
    issues: tuple[str, ...]
    malformed: tuple[str, ...]


def parse_design(instance: NetworkPlanningInstance, design: Mapping[str, Any]) -> ParsedDesign:
    """Read ``design``; raises ``ValueError`` when it is not ``{"units": {link: int}}`` at all."""
    given = design_member(design, "units", "{link_name: units}")
    index = {link.name: i for i, link in enumerate(instance.ip_links)}
    units: list[int | None] = [None] * len(instance.ip_links)
    malformed: list[str] = []
    bad: set[int] = set()
    for name, value in given.items():
        i = index.get(name) if isinstance(name, str) else None
        if i is None:
            malformed.append(f"unknown link {name!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            malformed.append(f"link {name} units {value!r} is not an integer")
            bad.add(i)
            continue
        units[i] = int(value)
    missing = [
        f"link {instance.ip_links[i].name} has no units" for i, n in enumerate(units) if n is None and i not in bad
    ]
    return ParsedDesign(tuple(units), tuple(malformed + missing), tuple(malformed))


def design_cost(instance: NetworkPlanningInstance, units: tuple[int | None, ...] | list[int]) -> float:
    """Added cost of ``units`` (a missing link adds nothing)."""
    return float(
        sum(
            link.cost_per_unit * (n - link.existing_units)
            for link, n in zip(instance.ip_links, units, strict=True)
            if n is not None
        )
    )


def evaluate(instance: NetworkPlanningInstance, design: Mapping[str, Any]) -> Evaluation:
    """Cost, feasibility and violations of ``design``.

    ``breakdown``: ``cost`` (= objective, currency), ``added_units`` (sum of units above
    existing), ``max_unrouted_gbps`` (the largest unrouted traffic of one scenario, Gbps),
    ``scenarios`` (how many scenarios were checked).
    """
    from problems.network_planning.verify import unrouted_lines, verify

    parsed = parse_design(instance, design)
    units = [
        n if n is not None else link.existing_units for n, link in zip(parsed.units, instance.ip_links, strict=True)
    ]
    cost = design_cost(instance, parsed.units)
    result = verify(instance, units)
    violations = list(parsed.issues) + list(result.violations)
    for routing in result.routings:
        violations.extend(unrouted_lines(instance, routing))
    max_unrouted = max((r.total_unrouted for r in result.routings), default=0.0)
    added = sum(max(0, n - link.existing_units) for n, link in zip(units, instance.ip_links, strict=True))
    return Evaluation(
        objective=cost,
        feasible=not violations,
        violations=tuple(violations),
        breakdown={
            "cost": cost,
            "added_units": float(added),
            "max_unrouted_gbps": max_unrouted,
            "scenarios": float(len(result.routings)),
        },
    )
