"""The capacity-planning environment of ``network-planning@1`` (a ``gymnasium.Env``), after
NeuroPlan (Zhu et al., SIGCOMM 2021): an agent adds capacity units to IP links one action
at a time until every scenario routes its required traffic.

**Episode.** It starts with every link at its lower bound ``max(existing_units, min_units)``
and ends (``terminated``) as soon as every scenario routes, or when no action is allowed
while some scenario does not route; it is ``truncated`` after ``max_steps`` steps.

**Action.** ``Discrete(num_links * len(AMOUNTS))``: action ``a`` picks link
``a // len(AMOUNTS)`` and amount ``AMOUNTS[a % len(AMOUNTS)]``:

- ``"one"``: one unit;
- ``"half"``: half the link's shortfall, rounded up (at least one unit);
- ``"fill"``: the link's whole shortfall, rounded up (at least one unit);

where a link's shortfall is the most capacity any not-yet-routing scenario's cheapest
fractional repair adds to it (see :mod:`problems.network_planning.feasibility`), in units.
The amount is cut to what the link's ``max_units``, its fibers' free spectrum and its lease
allow. ``action_masks()`` (and ``observation["action_mask"]``) is 1 where at least one unit
fits and, with ``short_links_only`` (the default), the link has a shortfall: a link that no
scenario's cheapest repair uses is pruned from the choice (NeuroPlan's ILP second stage
still may give it capacity, within its ``alpha`` relaxation); when no link has a
shortfall above the tolerance but some scenario still does not route, every link with room
is allowed. A masked action is a no-op that costs ``invalid_action_penalty`` and a step.

**Reward.** Minus the cost of the units added, divided by ``cost_scale`` (by default the
largest scenario repair cost at the start, a lower bound on the cost to add, so a return
near -1 is a near-optimal plan); when the episode ends without routing (no action left or
truncated), minus ``infeasible_penalty`` and minus the remaining repair cost over
``cost_scale``. With ``shaping`` (the default) the reward also gets the potential-based term
``Phi(s') - Phi(s)`` with ``Phi = -(largest scenario repair cost) / cost_scale`` and
``Phi = 0`` at the end (Ng, Harada & Russell 1999: the best policies stay the best), so
a step that shrinks the repair still needed is credited at once. An episode's shaped
return is then its unshaped return plus ``Phi(start)`` (about +1).

**Observation.** A ``Dict`` describing the graph (routers are nodes, IP links are edges):

- ``nodes``: ``(num_routers, NODE_FEATURES)`` float32: log1p of traffic sourced and sunk
  (in units), the protected share of the sourced traffic, degree / max degree, and the
  fraction of scenarios not routing yet;
- ``links``: ``(num_links, LINK_FEATURES)`` float32: units / max_units, added units /
  room, cost / mean cost, log1p of the shortfall (units, max over scenarios), the
  fraction of not-routing scenarios whose repair uses the link, log1p of the no-failure
  shortfall, free spectrum fraction (worst fiber of the path), the fraction of scenarios
  in which the link is down, and room left / max_units;
- ``edges``: ``(2, num_links)`` int64, the two routers of each link (fixed per instance);
- ``action_mask``: ``(num_links * len(AMOUNTS),)`` int8.

Every feature is scale-free, so one policy applies to topologies of any size.
``info`` carries ``feasible``, ``cost`` (added, currency) and ``units`` (list by link);
``env.oracle.stats`` counts the LP solves.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from problems.network_planning.feasibility import FeasibilityOracle
from problems.network_planning.model import unit_bounds
from problems.network_planning.scenarios import scenarios
from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["AMOUNTS", "LINK_FEATURES", "NODE_FEATURES", "PlanningEnv"]

AMOUNTS = ("one", "half", "fill")
NODE_FEATURES = 5
LINK_FEATURES = 9

FloatArray = npt.NDArray[np.float64]


class PlanningEnv(gym.Env[dict[str, Any], int]):
    """See the module docstring. ``max_steps`` defaults to ``2 * num_links`` plus the
    units the start's shortfall asks for."""

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's own convention)

    def __init__(
        self,
        instance: NetworkPlanningInstance,
        *,
        max_steps: int | None = None,
        infeasible_penalty: float = 1.0,
        invalid_action_penalty: float = 0.1,
        cost_scale: float | None = None,
        shaping: bool = True,
        short_links_only: bool = True,
    ) -> None:
        self.instance = instance
        links = instance.ip_links
        self.num_links = len(links)
        self.num_nodes = len(instance.routers)
        self.unit = float(instance.capacity_unit_gbps)
        bounds = unit_bounds(instance)
        self.lower = np.array([lo for lo, _ in bounds], dtype=np.int64)
        self.upper = np.array([hi for _, hi in bounds], dtype=np.int64)
        self.cost = np.array([x.cost_per_unit for x in links], dtype=np.float64)
        self.infeasible_penalty = float(infeasible_penalty)
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.shaping = bool(shaping)
        self.short_links_only = bool(short_links_only)
        router = {r.name: v for v, r in enumerate(instance.routers)}
        self.edges = np.array([[router[x.a] for x in links], [router[x.b] for x in links]], dtype=np.int64)

        fiber_index = {f.name: j for j, f in enumerate(instance.fibers)}
        self._slots = np.array([f.spectrum_slots for f in instance.fibers], dtype=np.float64)
        self._paths = [sorted({fiber_index[n] for n in x.fiber_path}) for x in links]
        self._spu = np.array([x.spectrum_per_unit for x in links], dtype=np.int64)
        lease_index = {q.name: j for j, q in enumerate(instance.leases)}
        self._lease = np.array([-1 if x.lease is None else lease_index[x.lease] for x in links], dtype=np.int64)
        self._lease_max = np.array([q.max_units for q in instance.leases], dtype=np.int64)

        all_scenarios = scenarios(instance)
        down = np.zeros(self.num_links)
        for s in all_scenarios[1:]:
            up = np.zeros(self.num_links, dtype=bool)
            up[list(s.links)] = True
            down += ~up
        self._down_fraction = down / max(1, len(all_scenarios) - 1)
        self._static_nodes = self._node_statics()
        self._mean_cost = max(float(self.cost.mean()), 1e-9)

        self.oracle = FeasibilityOracle(instance, self.lower.tolist())
        start_repair = self.oracle.repair_costs()
        self.cost_scale = float(cost_scale) if cost_scale else max(float(start_repair.max(initial=0.0)), 1e-9)
        if max_steps is None:
            need = np.ceil(self.oracle.shortfall().max(axis=0, initial=0.0) / self.unit).sum()
            max_steps = 2 * self.num_links + int(need)
        self.max_steps = int(max_steps)

        k = len(AMOUNTS)
        self.action_space: spaces.Space[int] = spaces.Discrete(self.num_links * k)  # type: ignore[assignment]
        self.observation_space = spaces.Dict(
            {
                "nodes": spaces.Box(0.0, np.inf, (self.num_nodes, NODE_FEATURES), np.float32),
                "links": spaces.Box(0.0, np.inf, (self.num_links, LINK_FEATURES), np.float32),
                "edges": spaces.Box(0, self.num_nodes - 1, (2, self.num_links), np.int64),
                "action_mask": spaces.MultiBinary(self.num_links * k),
            }
        )
        self.units = self.lower.copy()
        self.steps = 0
        self.added_cost = 0.0

    # -- gymnasium API ---------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        del options
        for i in np.flatnonzero(self.units != self.lower).tolist():
            self.oracle.set_units(i, int(self.lower[i]))
        self.units = self.lower.copy()
        self.steps = 0
        self.added_cost = 0.0
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        a = int(action)
        before = self._potential()
        if not 0 <= a < self.num_links * len(AMOUNTS):
            raise ValueError(f"action {a} outside [0, {self.num_links * len(AMOUNTS)})")
        self.steps += 1
        link, which = divmod(a, len(AMOUNTS))
        allowed = self._allowed()
        room = self._room()
        reward = 0.0
        if not allowed[link]:
            reward -= self.invalid_action_penalty
        else:
            add = min(self._amount(link, AMOUNTS[which]), int(room[link]))
            self.units[link] += add
            self.oracle.set_units(link, int(self.units[link]))
            added = add * float(self.cost[link])
            self.added_cost += added
            reward -= added / self.cost_scale
        routes = self.oracle.routes()
        stuck = not routes and not self._allowed().any()
        terminated = routes or stuck
        truncated = not terminated and self.steps >= self.max_steps
        if not routes and (terminated or truncated):
            reward -= self.infeasible_penalty + float(self.oracle.repair_costs().max(initial=0.0)) / self.cost_scale
        if self.shaping:
            reward += (0.0 if terminated or truncated else self._potential()) - before
        return self._observation(), reward, terminated, truncated, self._info()

    def _potential(self) -> float:
        return -float(self.oracle.repair_costs().max(initial=0.0)) / self.cost_scale

    def action_masks(self) -> npt.NDArray[np.int8]:
        """1 for every action that adds at least one unit (see the module docstring)."""
        return np.repeat(self._allowed().astype(np.int8), len(AMOUNTS))

    def _allowed(self) -> npt.NDArray[np.bool_]:
        """Links an action may grow (see the module docstring)."""
        room = self._room() > 0
        if not self.short_links_only:
            return room
        short = room & (self.oracle.shortfall().max(axis=0, initial=0.0) > 1e-9)
        return short if short.any() else room

    # -- state -----------------------------------------------------------------------------

    def plan(self) -> dict[str, int]:
        """The current total units by link name (a design's ``units``)."""
        return {x.name: int(n) for x, n in zip(self.instance.ip_links, self.units, strict=True)}

    def _room(self) -> npt.NDArray[np.int64]:
        """Units each link may still add: its max_units, its fibers' spectrum, its lease."""
        room = self.upper - self.units
        used = np.zeros(len(self._slots))
        for i, path in enumerate(self._paths):
            used[path] += self._spu[i] * self.units[i]
        free = self._slots - used
        for i, path in enumerate(self._paths):
            if path:
                room[i] = min(room[i], int(free[path].min() // self._spu[i]))
            if self._lease[i] >= 0:
                q = self._lease[i]
                room[i] = min(room[i], int(self._lease_max[q] - self.units[self._lease == q].sum()))
        return np.asarray(np.maximum(room, 0), dtype=np.int64)

    def _amount(self, link: int, which: str) -> int:
        if which == "one":
            return 1
        short = float(self.oracle.shortfall()[:, link].max(initial=0.0)) / self.unit
        if which == "half":
            short /= 2.0
        return max(1, math.ceil(short - 1e-9))

    def _node_statics(self) -> FloatArray:
        instance = self.instance
        router = {r.name: v for v, r in enumerate(instance.routers)}
        protected = set(instance.protected_classes)
        out = np.zeros(self.num_nodes)
        sink = np.zeros(self.num_nodes)
        prot = np.zeros(self.num_nodes)
        for d in instance.demands:
            out[router[d.src]] += d.gbps / self.unit
            sink[router[d.dst]] += d.gbps / self.unit
            if d.cos in protected:
                prot[router[d.src]] += d.gbps / self.unit
        degree = np.bincount(self.edges.ravel(), minlength=self.num_nodes).astype(np.float64)
        share = np.divide(prot, out, out=np.zeros_like(out), where=out > 0)
        return np.column_stack([np.log1p(out), np.log1p(sink), share, degree / max(degree.max(), 1.0)])

    def _observation(self) -> dict[str, Any]:
        shortfall = self.oracle.shortfall() / self.unit
        not_routing = ~self.oracle.routing_mask()
        frac_open = float(not_routing.mean()) if len(not_routing) else 0.0
        nodes = np.column_stack([self._static_nodes, np.full(self.num_nodes, frac_open)])
        room = self._room()
        span = np.maximum(self.upper, 1).astype(np.float64)
        used = np.zeros(len(self._slots))
        for i, path in enumerate(self._paths):
            used[path] += self._spu[i] * self.units[i]
        free = np.divide(self._slots - used, self._slots, out=np.zeros_like(self._slots), where=self._slots > 0)
        spectrum = np.array([free[p].min() if p else 1.0 for p in self._paths])
        uses = (shortfall > 1e-9).sum(axis=0) / max(1, int(not_routing.sum())) if len(shortfall) else 0.0
        links = np.column_stack(
            [
                self.units / span,
                (self.units - self.lower) / np.maximum(self.upper - self.lower, 1),
                self.cost / self._mean_cost,
                np.log1p(shortfall.max(axis=0, initial=0.0)),
                np.broadcast_to(uses, (self.num_links,)),
                np.log1p(shortfall[0] if len(shortfall) else np.zeros(self.num_links)),
                np.clip(spectrum, 0.0, None),
                self._down_fraction,
                room / span,
            ]
        )
        return {
            "nodes": nodes.astype(np.float32),
            "links": links.astype(np.float32),
            "edges": self.edges.copy(),
            "action_mask": self.action_masks(),
        }

    def _info(self) -> dict[str, Any]:
        return {
            "feasible": self.oracle.routes(),
            "cost": self.added_cost,
            "units": self.units.tolist(),
        }
