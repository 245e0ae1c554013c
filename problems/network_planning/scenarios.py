"""The scenarios of a ``network-planning@1`` instance, shared by the model, the verifier
and the evaluator (plain Python, no Pyomo, no solver).

Scenario 0 is the no-failure scenario: every IP link is up and every demand must be routed.
Scenario ``s >= 1`` is ``failure_scenarios[s - 1]``: the links whose fiber path uses a failed
fiber are down, and only the demands of the protected classes must be routed.
"""

from __future__ import annotations

from dataclasses import dataclass

from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["NO_FAILURE", "Scenario", "scenarios"]

NO_FAILURE = "no-failure"
"""The name of scenario 0."""


@dataclass(frozen=True)
class Scenario:
    """One scenario: ``links`` are the positions of the IP links that are up, ``demands``
    the positions of the demands that must be routed."""

    name: str
    links: tuple[int, ...]
    demands: tuple[int, ...]


def scenarios(instance: NetworkPlanningInstance) -> list[Scenario]:
    """The no-failure scenario, then one per failure scenario, in instance order."""
    protected = set(instance.protected_classes)
    every_link = tuple(range(len(instance.ip_links)))
    result = [Scenario(NO_FAILURE, every_link, tuple(range(len(instance.demands))))]
    protected_demands = tuple(k for k, d in enumerate(instance.demands) if d.cos in protected)
    link_fibers = [set(link.fiber_path) for link in instance.ip_links]
    for failure in instance.failure_scenarios:
        failed = set(failure.fibers)
        up = tuple(i for i in every_link if not link_fibers[i] & failed)
        result.append(Scenario(failure.name, up, protected_demands))
    return result
