"""SurCo-zero with a fast inner oracle, for kinds whose exact model is too slow for a loop
(``photonics@1``: per-pixel costs over brush-feasible designs).

The kind's :class:`~designsvc.core.surrogate.SurrogateInterface` supplies
``fast_argmin(c) -> (x, feasible)`` (an approximate ``argmin <c, x>`` over the feasible set
in milliseconds, with the kind's independent feasibility check) and the relaxed objective
``f`` with its gradient (for ``photonics@1`` the simulated spec loss and ceviche's adjoint
gradient, one forward and one adjoint FDFD solve per wavelength and excited port; that call
is one *simulation* here, and the budget is counted in them).

Each step: ``x = fast_argmin(c)``; ``(f, g) = relaxed_objective(x)`` (one simulation; at a
0/1 ``x`` it is the evaluator's objective); then ``df/dc`` by one of two estimators:

- ``straight_through``: ``x*(c)`` is treated as the threshold ``x = [c < 0]`` relaxed to
  ``x ~ sigmoid(-c / tau)``, whose Jacobian is a negative diagonal, so ``df/dc = -g``
  (raising a pixel's cost lowers its solid share): the adjoint gradient goes straight to
  the costs. No extra oracle call.
- ``blackbox``: blackbox differentiation (Vlastelica et al., ICLR 2020):
  ``x' = fast_argmin(c + lambda g / max|g|)``, ``df/dc = (x' - x) / lambda`` (one extra
  oracle call, no extra simulation).

Costs are kept at unit RMS (scaling does not change the argmin; unlike
:func:`surrogates.surco.zero.normalize_costs` no row is centred: pixels are independent
choices); the steps below move them. The run stops at ``max_simulations``, at the time budget, or
at the first design that is feasible (by the oracle's check) with objective 0 (for
``photonics@1``: every spec window met).

Step rule: ``c <- scale(c - rate * grad / max|grad|)`` with ``rate = learning_rate x
decay^t`` (``optimizer: normalized``, the default), or Adam. Adam moves every pixel by
about the same amount per step whatever its gradient, so all the pixels started at the
same ``+-1`` cost cross the threshold together; measured with straight-through on the
30 x 30 example bend: Adam (learning rate 0.1 or 0.3, 40 simulations) never improved on
the start (spec loss 0.0762); the normalized step (0.3 or 1.0, decay 1, 30 simulations)
reached 0.0009-0.0010.

Choice of the default estimator, measured (2026-11-28, this machine, one thread, a
benchmark running alongside): three small bends (the built-in ``bend-lightweight-small``,
30 x 30 pixels, 3-pixel brush; ``generate(seed, device=0, design_px=24)`` seeds 1 and 2,
24 x 28 and 22 x 20 pixels), from the straight-path costs, at most 60 simulations,
normalized steps, learning rate 0.5. Simulations to the first brush-feasible design that
meets the spec (``-``: none; in brackets the best spec loss met)::

                                   small   seed 1   seed 2   start losses 0.076 / 0.414 / 0.182
    straight_through, decay 1.0      58      37       15
    straight_through, decay 0.97     54      37       13
    blackbox, lambda 2, decay 0.97   - (0.0126)  - (0.0491)  - (0.0099)
    blackbox, lambda 4, decay 0.97   - (0.0762)  - (0.1878)  - (0.0301)

Blackbox differentiation moves only the pixels whose costs sit near the threshold (the
difference of two argmins is sparse), and the brush repair often undoes a one-pixel move,
so it stalls; straight-through passes the whole adjoint gradient on and met the spec on all
three. Defaults: ``straight_through``, learning rate 0.5, decay 0.97, ``blackbox_lambda`` 2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from designsvc.core.surrogate import SurrogateInterface
from designsvc.core.types import JsonDict
from surrogates.surco.zero import Adam

__all__ = [
    "PIXEL_METHODS",
    "PixelCandidate",
    "PixelConfig",
    "PixelMethod",
    "PixelResult",
    "run_pixel_zero",
    "scale_costs",
    "target_costs",
]

FloatArray = npt.NDArray[np.float64]
PixelMethod = Literal["straight_through", "blackbox"]
PIXEL_METHODS: tuple[PixelMethod, ...] = ("straight_through", "blackbox")


def scale_costs(c: FloatArray) -> FloatArray:
    """``c`` scaled to unit RMS (the zero matrix stays zero); no centring."""
    rms = float(np.sqrt(np.mean(c * c)))
    return np.asarray(c / rms if rms > 0 else c, dtype=np.float64)


def target_costs(x: FloatArray) -> FloatArray:
    """``1 - 2 x``: the costs whose argmin over the feasible set is the design nearest to
    the 0/1 matrix ``x`` (fewest flipped entries; ``x`` itself, uniquely, when feasible)."""
    return np.asarray(1.0 - 2.0 * np.asarray(x, dtype=np.float64), dtype=np.float64)


@dataclass(frozen=True)
class PixelConfig:
    """Hyperparameters (see the module docstring): ``method``, ``learning_rate`` (Adam, in
    unit-RMS cost units), ``blackbox_lambda``, ``max_simulations`` (relaxed-objective
    calls), ``time_budget_s`` (wall seconds; the step under way finishes), ``stop_at``
    (stop once a feasible design has an objective at most this; default 0)."""

    method: PixelMethod = "straight_through"
    learning_rate: float = 0.5
    blackbox_lambda: float = 2.0
    max_simulations: int = 200
    optimizer: Literal["adam", "normalized"] = "normalized"
    decay: float = 0.97
    time_budget_s: float = 600.0
    stop_at: float = 0.0


@dataclass(frozen=True)
class PixelCandidate:
    """One oracle answer: the (scaled) ``costs``, the 0/1 ``x``, its ``objective`` (the
    relaxed objective at ``x``), ``feasible`` (the oracle's check) and the ``simulation``
    count after it."""

    costs: FloatArray
    x: FloatArray
    objective: float
    feasible: bool
    simulation: int


@dataclass
class PixelResult:
    """The outcome of :func:`run_pixel_zero`: ``best`` (best feasible candidate, None if
    none), ``best_any`` (best candidate, feasible or not), ``start``, ``first_success``
    (simulations and seconds at the first feasible candidate at or under ``stop_at``, None
    if none), ``curve`` (objective per simulation), ``simulations``, ``seconds``."""

    best: PixelCandidate | None
    best_any: PixelCandidate
    start: PixelCandidate
    first_success: tuple[int, float] | None = None
    curve: list[float] = field(default_factory=list)
    feasible_steps: int = 0
    simulations: int = 0
    seconds: float = 0.0

    def summary(self) -> JsonDict:
        """JSON numbers of the run (for a proposer's stats)."""
        return {
            "start_objective": self.start.objective,
            "best_objective": None if self.best is None else self.best.objective,
            "best_simulation": None if self.best is None else self.best.simulation,
            "simulations": self.simulations,
            "feasible_steps": self.feasible_steps,
            "first_success_simulations": None if self.first_success is None else self.first_success[0],
            "first_success_s": None if self.first_success is None else self.first_success[1],
            "seconds": self.seconds,
            "curve": [float(v) for v in self.curve],
        }


def run_pixel_zero(
    c_start: FloatArray,
    interface: SurrogateInterface,
    config: PixelConfig,
    *,
    deadline: float | None = None,
    on_step: Callable[[PixelCandidate], None] | None = None,
) -> PixelResult:
    """SurCo-zero through ``interface.fast_argmin`` (see the module docstring).
    ``ValueError`` when the interface has no fast oracle."""
    oracle = interface.fast_argmin
    if oracle is None:
        raise ValueError("this problem kind has no fast inner oracle (SurrogateInterface.fast_argmin)")
    t0 = time.perf_counter()
    stop_time = deadline if deadline is not None else t0 + config.time_budget_s
    c = scale_costs(np.asarray(c_start, dtype=np.float64))
    adam = Adam(config.learning_rate)
    result: PixelResult | None = None
    simulations = 0
    while simulations < max(config.max_simulations, 1):
        x, feasible = oracle(c)
        value, g = interface.relaxed_objective(x)
        simulations += 1
        candidate = PixelCandidate(c.copy(), x, float(value), bool(feasible), simulations)
        if on_step is not None:
            on_step(candidate)
        if result is None:
            result = PixelResult(best=None, best_any=candidate, start=candidate)
        result.curve.append(candidate.objective)
        result.feasible_steps += int(candidate.feasible)
        if candidate.objective < result.best_any.objective:
            result.best_any = candidate
        if candidate.feasible and (result.best is None or candidate.objective < result.best.objective):
            result.best = candidate
        if candidate.feasible and candidate.objective <= config.stop_at:
            result.first_success = (simulations, time.perf_counter() - t0)
            break
        if time.perf_counter() >= stop_time:
            break
        if config.method == "straight_through":
            grad = -np.asarray(g, dtype=np.float64)
        elif config.method == "blackbox":
            top = float(np.abs(g).max())
            if top > 0:
                moved, _ = oracle(c + config.blackbox_lambda * np.asarray(g) / top)
                grad = (moved - x) / config.blackbox_lambda
            else:
                grad = np.zeros_like(c)
        else:
            raise ValueError(f"unknown method {config.method!r}; expected one of {', '.join(PIXEL_METHODS)}")
        grad = np.asarray(grad, dtype=np.float64)
        if config.optimizer == "adam":
            c = scale_costs(c + adam.step(grad))
        else:
            top = float(np.abs(grad).max())
            rate = config.learning_rate * config.decay ** (simulations - 1)
            c = scale_costs(c - rate * grad / top) if top > 0 else c
    assert result is not None
    result.simulations = simulations
    result.seconds = time.perf_counter() - t0
    return result
