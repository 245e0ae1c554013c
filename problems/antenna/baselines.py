"""Baselines of ``antenna@1``: the centre design and differential evolution on NEC.

``centre``: the Chebyshev centre of the design space (the most interior design; the
default solve's answer too). No simulation.

``differential-evolution``: :func:`scipy.optimize.differential_evolution` directly on the
simulator, over unit coordinates (each parameter scaled to [0, 1] by its bounds) with the
design space's linear rules as a :class:`scipy.optimize.LinearConstraint` (scipy evaluates
the objective only where they hold; designs breaking them are never simulated). The
objective is the target shortfall (:func:`problems.antenna.evaluate.target_shortfall`).
The initial population is the centre plus uniform samples of the space
(:func:`problems.antenna.sampling.sample_designs`), ``POPULATION`` designs in all; the
strategy ``best1bin``, mutation 0.5-1, recombination 0.7, no polishing. The search stops at
the first simulated design that meets the target, or when it has spent ``budget`` NEC
simulations (the instance's ``baseline_nec_calls``). :func:`differential_evolution_search`
returns the design with the number of simulations, for benchmarks.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict
from problems.antenna.evaluate import design_from_vector, simulate_instance, target_shortfall, worst_shortfall
from problems.antenna.families import DesignSpace
from problems.antenna.nec import s11_db
from problems.antenna.sampling import chebyshev_centre, sample_designs
from problems.antenna.schema import AntennaInstance, instance_space

__all__ = [
    "POPULATION",
    "Minimum",
    "SearchResult",
    "baseline_designs",
    "centre_design",
    "differential_evolution_search",
    "minimize_on_space",
]

POPULATION = 20
"""Designs per differential-evolution generation."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SearchResult:
    """The best design a search found (``{"params": ...}``), its shortfall (dB), whether it
    meets the target, and the NEC simulations spent (``nec_calls``)."""

    design: JsonDict
    nec_calls: int
    met: bool
    shortfall_db: float


def centre_design(space: DesignSpace) -> JsonDict:
    """The Chebyshev centre of ``space`` as a design."""
    return design_from_vector(space, chebyshev_centre(space))


class _StopSearchError(Exception):
    """Raised inside the objective to end the search (goal reached or budget spent)."""


@dataclass(frozen=True)
class Minimum:
    """What :func:`minimize_on_space` found: the best design (mm, (P,)), its value and
    the objective calls spent."""

    x: FloatArray
    value: float
    calls: int


def minimize_on_space(
    space: DesignSpace,
    objective: Callable[[FloatArray], float],
    *,
    budget: int,
    seed: int,
    init: FloatArray,
    stop_at: float,
    worst: float,
) -> Minimum:
    """Differential evolution of ``objective`` (a design in mm, (P,) -> value) over
    ``space`` in unit coordinates with its rules as a linear constraint, starting from the
    designs ``init`` (mm, (S, P), S >= 5, all inside the space). Stops at the first value
    ``<= stop_at`` or after ``budget`` calls; ``worst`` is the value before any call."""
    from scipy.optimize import LinearConstraint, differential_evolution

    best: list[tuple[float, FloatArray]] = [(worst, np.asarray(init[0], dtype=np.float64))]
    calls = 0

    def wrapped(u: FloatArray) -> float:
        nonlocal calls
        x = space.from_unit(np.clip(u, 0.0, 1.0))
        if not bool(space.contains(x)[0]):
            return worst + 1.0  # scipy evaluates feasible points only; kept for safety
        if calls >= budget:
            raise _StopSearchError
        calls += 1
        value = float(objective(x))
        if value < best[0][0]:
            best[0] = (value, x)
        if value <= stop_at:
            raise _StopSearchError
        return value

    if budget > 0:
        A, b = space.matrices()
        span = space.upper - space.lower
        population = space.to_unit(np.asarray(init, dtype=np.float64))
        with contextlib.suppress(_StopSearchError):
            differential_evolution(
                wrapped,
                bounds=[(0.0, 1.0)] * len(space.names),
                init=population,
                constraints=LinearConstraint(A * span, -np.inf, b - A @ space.lower),
                maxiter=max(1, budget),  # generations; the budget of calls stops it first
                strategy="best1bin",
                mutation=(0.5, 1.0),
                recombination=0.7,
                tol=0.0,
                atol=0.0,
                polish=False,
                rng=np.random.default_rng(seed),
                updating="immediate",
                workers=1,
            )
    return Minimum(best[0][1], best[0][0], calls)


def differential_evolution_search(instance: AntennaInstance, *, budget: int, seed: int = 0) -> SearchResult:
    """Differential evolution on NEC for ``instance`` with at most ``budget`` simulations
    (see the module docstring). ``budget`` 0 returns the centre design unsimulated."""
    key = json.dumps(instance.model_dump(mode="json"), sort_keys=True)
    found = _search(key, budget, seed)
    return replace(found, design=copy.deepcopy(found.design))


@functools.lru_cache(maxsize=16)
def _search(instance_json: str, budget: int, seed: int) -> SearchResult:
    instance = AntennaInstance.model_validate_json(instance_json)
    space = instance_space(instance)
    centre = chebyshev_centre(space)
    worst = worst_shortfall(instance.target)
    freqs = instance.sweep.freqs_hz

    def shortfall(x: FloatArray) -> float:
        try:
            db = s11_db(simulate_instance(instance, space.params(x)))
        except ValueError:
            return worst
        return target_shortfall(instance.target, freqs, db).total_db

    rng = np.random.default_rng(seed)
    init = np.vstack([centre[None, :], sample_designs(space, POPULATION - 1, rng)])
    found = minimize_on_space(space, shortfall, budget=budget, seed=seed + 1, init=init, stop_at=0.0, worst=worst)
    return SearchResult(design_from_vector(space, found.x), found.calls, found.value <= 0.0, found.value)


def baseline_designs(instance: AntennaInstance, space: DesignSpace) -> dict[str, Callable[[int], JsonDict]]:
    """The named baselines: ``centre`` and ``differential-evolution`` (budget: the
    instance's ``baseline_nec_calls``)."""
    return {
        "centre": lambda seed: centre_design(space),
        "differential-evolution": lambda seed: (
            differential_evolution_search(instance, budget=instance.baseline_nec_calls, seed=seed).design
        ),
    }
