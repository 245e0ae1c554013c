"""The instance schema of ``network-planning@1``: IP-over-optical capacity planning that
survives failures (after NeuroPlan, Zhu et al., SIGCOMM 2021).

An instance is a two-layer network. The optical layer has routers joined by fibers; each
fiber has a length (km) and a number of spectrum slots. The IP layer has links between
routers, each riding a fixed path of fibers; a link's capacity is a whole number of
*units* of ``capacity_unit_gbps`` Gbps in each direction (full duplex), and each unit takes
``spectrum_per_unit`` slots on every fiber of its path. Demands (Gbps, one class of service
each) must be routable in the no-failure scenario; demands of the ``protected_classes``
must also be routable in every failure scenario (a shared-risk group of fibers that are cut
together; the links riding any of them carry nothing). Costs are per added unit in the
user's currency.

The pydantic model checks each field. Rules across fields (names that refer to routers,
fibers, leases and classes; fiber paths that join their link's ends; unique names; demands
with a path; the size limit) are checked by :func:`check_instance`, which raises
:class:`SpecError` with JSON pointers relative to the instance, e.g.
``/ip_links/2/fiber_path: fibers do not form a path from A to B``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.errors import FieldError, SpecError

__all__ = [
    "MAX_ERRORS",
    "MAX_FLOW_VARIABLES",
    "Components",
    "Demand",
    "FailureScenario",
    "Fiber",
    "IpLink",
    "Lease",
    "NetworkPlanningInstance",
    "Router",
    "check_instance",
    "demand_label",
    "flow_variable_count",
    "instance_errors",
    "walk_fiber_path",
]

MAX_FLOW_VARIABLES = 2_000_000
"""The largest accepted number of flow variables (see :func:`flow_variable_count`)."""

MAX_ERRORS = 100
"""At most this many cross-field errors are listed; a last one counts the rest."""

Name = Annotated[str, Field(min_length=1, description="A non-empty name, unique in its list.")]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]


class Router(BaseModel):
    """A router (an IP node at a site); ``lat``/``lon`` in degrees, only for pictures."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude in degrees (optional).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude in degrees (optional).")


class Fiber(BaseModel):
    """An optical fiber between routers ``a`` and ``b`` (an undirected span)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    a: str = Field(description="Router name at one end.")
    b: str = Field(description="Router name at the other end.")
    length_km: NonNegative = Field(default=0.0, description="Length in km (>= 0), informational.")
    spectrum_slots: NonNegativeInt = Field(description="Spectrum slots on this fiber (>= 0).")


class IpLink(BaseModel):
    """An IP link between routers ``a`` and ``b`` riding ``fiber_path``. Its capacity is
    ``units * capacity_unit_gbps`` Gbps in each direction."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    a: str = Field(description="Router name at one end.")
    b: str = Field(description="Router name at the other end.")
    fiber_path: list[str] = Field(min_length=1, description="Fiber names, a contiguous path from a to b.")
    existing_units: NonNegativeInt = Field(default=0, description="Units already installed (cannot be removed).")
    min_units: NonNegativeInt = Field(default=0, description="Least total units of the plan.")
    max_units: NonNegativeInt = Field(description="Most total units of the plan (>= min_units and existing_units).")
    cost_per_unit: NonNegative = Field(description="Cost of one added unit, in the currency (>= 0).")
    spectrum_per_unit: Annotated[int, Field(ge=1, strict=True)] = Field(
        default=1, description="Spectrum slots one unit takes on each fiber of the path (>= 1)."
    )
    lease: str | None = Field(default=None, description="Name of the lease this link's units count against.")


class Lease(BaseModel):
    """A lease (e.g. a leased wavelength contract): the links naming it hold at most
    ``max_units`` units in total."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    max_units: NonNegativeInt = Field(description="Most total units over the links on this lease.")


class Demand(BaseModel):
    """Traffic from ``src`` to ``dst`` of ``gbps`` Gbps in class of service ``cos``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", description="Optional name (unique when given); 'd<position+1>' otherwise.")
    src: str = Field(description="Source router name.")
    dst: str = Field(description="Destination router name.")
    gbps: Positive = Field(description="Traffic in Gbps (> 0).")
    cos: str = Field(min_length=1, description="Class of service, e.g. 'gold'.")


class FailureScenario(BaseModel):
    """A shared-risk group: ``fibers`` are cut together."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    fibers: list[str] = Field(min_length=1, description="Names of the fibers that fail together.")


class NetworkPlanningInstance(BaseModel):
    """Choose the total units of every IP link, at least added cost, so that all demands are
    routable without failures and the protected classes' demands in every failure scenario,
    within spectrum and lease limits."""

    model_config = ConfigDict(extra="forbid", title="network-planning@1 instance")

    name: str = Field(default="", description="Free-form name of the instance.")
    capacity_unit_gbps: Positive = Field(description="Gbps per capacity unit, each direction (e.g. 100).")
    routers: list[Router] = Field(min_length=2, description="The routers, at least two.")
    fibers: list[Fiber] = Field(min_length=1, description="The fibers, at least one.")
    ip_links: list[IpLink] = Field(min_length=1, description="The IP links, at least one.")
    leases: list[Lease] = Field(default_factory=list, description="Leases limiting units of their links.")
    demands: list[Demand] = Field(min_length=1, description="The demands, at least one.")
    protected_classes: list[str] = Field(
        default_factory=list, description="Classes of service that must survive every failure scenario."
    )
    failure_scenarios: list[FailureScenario] = Field(
        default_factory=list, description="Failure scenarios (the no-failure scenario is implicit)."
    )


def demand_label(instance: NetworkPlanningInstance, k: int) -> str:
    """The name of demand ``k``, or ``d{k+1}`` when it has none."""
    return instance.demands[k].name or f"d{k + 1}"


def walk_fiber_path(instance: NetworkPlanningInstance, link: IpLink) -> bool:
    """Whether ``link.fiber_path`` (known fiber names) is a contiguous path from ``a`` to ``b``."""
    fibers = {f.name: f for f in instance.fibers}
    at = link.a
    for name in link.fiber_path:
        fiber = fibers[name]
        if fiber.a == at:
            at = fiber.b
        elif fiber.b == at:
            at = fiber.a
        else:
            return False
    return at == link.b


def flow_variable_count(instance: NetworkPlanningInstance) -> int:
    """Flow variables of the model: per scenario, sources with required demand x 2 x
    surviving links (an upper estimate that ignores unknown names)."""
    protected = set(instance.protected_classes)
    all_sources = {d.src for d in instance.demands}
    protected_sources = {d.src for d in instance.demands if d.cos in protected}
    link_fibers = [set(link.fiber_path) for link in instance.ip_links]
    total = len(all_sources) * 2 * len(instance.ip_links)
    for scenario in instance.failure_scenarios:
        failed = set(scenario.fibers)
        alive = sum(1 for fibers in link_fibers if not fibers & failed)
        total += len(protected_sources) * 2 * alive
    return total


def instance_errors(instance: NetworkPlanningInstance) -> list[FieldError]:
    """Every cross-field rule ``instance`` breaks (empty when it is valid), with JSON
    pointers relative to the instance; at most :data:`MAX_ERRORS` plus one summary."""
    errors: list[FieldError] = []
    count = flow_variable_count(instance)
    if count > MAX_FLOW_VARIABLES:
        errors.append(
            FieldError(
                "",
                f"too large: {count:,} flow variables (scenarios x sources x 2 x surviving links); "
                f"the limit is {MAX_FLOW_VARIABLES:,}",
            )
        )
    errors.extend(_duplicates("routers", [r.name for r in instance.routers], "router"))
    errors.extend(_duplicates("fibers", [f.name for f in instance.fibers], "fiber"))
    errors.extend(_duplicates("ip_links", [x.name for x in instance.ip_links], "IP link"))
    errors.extend(_duplicates("leases", [x.name for x in instance.leases], "lease"))
    errors.extend(_duplicates("failure_scenarios", [x.name for x in instance.failure_scenarios], "scenario"))
    named = [(k, d.name) for k, d in enumerate(instance.demands) if d.name]
    errors.extend(_duplicates("demands", [n for _, n in named], "demand", [k for k, _ in named]))

    routers = {r.name for r in instance.routers}
    fibers = {f.name for f in instance.fibers}
    leases = {x.name for x in instance.leases}
    for i, fiber in enumerate(instance.fibers):
        errors.extend(_endpoints(f"/fibers/{i}", fiber.a, fiber.b, routers))
    links_ok: list[bool] = []
    for i, link in enumerate(instance.ip_links):
        ends = _endpoints(f"/ip_links/{i}", link.a, link.b, routers)
        errors.extend(ends)
        ok = not ends
        for j, name in enumerate(link.fiber_path):
            if name not in fibers:
                errors.append(FieldError(f"/ip_links/{i}/fiber_path/{j}", f"unknown fiber {name!r}"))
                ok = False
        if ok and not walk_fiber_path(instance, link):
            errors.append(
                FieldError(f"/ip_links/{i}/fiber_path", f"fibers do not form a path from {link.a} to {link.b}")
            )
            ok = False
        if link.max_units < link.min_units:
            errors.append(
                FieldError(f"/ip_links/{i}/max_units", f"{link.max_units} is below min_units {link.min_units}")
            )
        if link.max_units < link.existing_units:
            errors.append(
                FieldError(
                    f"/ip_links/{i}/max_units",
                    f"{link.max_units} is below existing_units {link.existing_units} (units cannot be removed)",
                )
            )
        if link.lease is not None and link.lease not in leases:
            errors.append(FieldError(f"/ip_links/{i}/lease", f"unknown lease {link.lease!r}"))
        links_ok.append(ok)
    for i, scenario in enumerate(instance.failure_scenarios):
        for j, name in enumerate(scenario.fibers):
            if name not in fibers:
                errors.append(FieldError(f"/failure_scenarios/{i}/fibers/{j}", f"unknown fiber {name!r}"))

    protected = set(instance.protected_classes)
    usable = [link for link, ok in zip(instance.ip_links, links_ok, strict=True) if ok]
    whole = Components(routers, [(x.a, x.b) for x in usable])
    after_cut = [
        (s.name, Components(routers, [(x.a, x.b) for x in usable if not set(x.fiber_path) & set(s.fibers)]))
        for s in instance.failure_scenarios
    ]
    for k, demand in enumerate(instance.demands):
        ends = [
            FieldError(f"/demands/{k}/{field}", f"unknown router {name!r}")
            for field, name in (("src", demand.src), ("dst", demand.dst))
            if name not in routers
        ]
        if ends:
            errors.extend(ends)
            continue
        if demand.src == demand.dst:
            errors.append(FieldError(f"/demands/{k}", "src and dst are the same router"))
            continue
        if not whole.joined(demand.src, demand.dst):
            errors.append(FieldError(f"/demands/{k}", f"no path between {demand.src} and {demand.dst} over IP links"))
            continue
        if demand.cos in protected:
            for name, parts in after_cut:
                if not parts.joined(demand.src, demand.dst):
                    errors.append(
                        FieldError(
                            f"/demands/{k}",
                            f"protected demand has no path between {demand.src} and {demand.dst} "
                            f"in failure scenario {name!r}",
                        )
                    )
                    break
    if len(errors) > MAX_ERRORS:
        rest = len(errors) - MAX_ERRORS
        errors = [*errors[:MAX_ERRORS], FieldError("", f"and {rest} more errors")]
    return errors


def check_instance(instance: NetworkPlanningInstance) -> None:
    """Raise :class:`SpecError` listing every cross-field rule ``instance`` breaks."""
    errors = instance_errors(instance)
    if errors:
        raise SpecError(errors)


class Components:
    """Connected components (union-find) of ``nodes`` under ``edges``."""

    def __init__(self, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> None:
        self._parent = {n: n for n in nodes}
        for a, b in edges:
            self._parent[self._find(a)] = self._find(b)

    def _find(self, n: str) -> str:
        parent = self._parent
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def joined(self, a: str, b: str) -> bool:
        return self._find(a) == self._find(b)

    def count(self) -> int:
        """The number of components."""
        return len({self._find(n) for n in self._parent})


def _endpoints(pointer: str, a: str, b: str, routers: set[str]) -> list[FieldError]:
    errors = [
        FieldError(f"{pointer}/{field}", f"unknown router {name!r}")
        for field, name in (("a", a), ("b", b))
        if name not in routers
    ]
    if not errors and a == b:
        errors.append(FieldError(pointer, f"both ends are router {a!r}"))
    return errors


def _duplicates(
    field: str, names: Sequence[str], what: str, positions: Sequence[int] | None = None
) -> list[FieldError]:
    where = list(positions) if positions is not None else list(range(len(names)))
    first: dict[str, int] = {}
    errors: list[FieldError] = []
    for k, name in zip(where, names, strict=True):
        seen = first.setdefault(name, k)
        if seen != k:
            errors.append(
                FieldError(f"/{field}/{k}/name", f"duplicate {what} name {name!r} (also at /{field}/{seen}/name)")
            )
    return errors
