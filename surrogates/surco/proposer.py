"""The SurCo proposers: ``surco-zero``, ``surco-prior`` and ``surco-hybrid``.

Each proposes linear costs ``c`` (tables x devices for ``table-sharding@1``) through the
problem's linear-surrogate interface (:meth:`Problem.surrogate_interface`): the proposal's
``fixed`` is ``costs_fixed(c)``, so the job's solver finalizes ``argmin <c, x>`` over the
full feasible set, and every plan is the solver's.

- ``surco-zero``: SurCo-zero (:mod:`surrogates.surco.zero`) from the problem's additive
  costs with seeded symmetry-breaking noise; numpy only (queue ``cpu``).
- ``surco-prior``: the costs the prior network of a checkpoint predicts from the
  instance's features (:mod:`surrogates.surco.prior`); no inner solves. (The shipped
  checkpoint's base is the greedy plan computed from the interface; see
  ``surrogates/surco/checkpoints/README.md`` for it and its measured numbers.)
- ``surco-hybrid``: the prior's costs, then SurCo-zero steps from them.

Plans met besides the solver's answers (``surco-prior`` and ``surco-hybrid``): a
greedy-base prior's base plan, and with ``baseline_start`` (default true) the best feasible
plan of the problem's own baselines, each evaluated by the true evaluator (no solve). The
best plan met warm-starts the first proposal and the snap round below falls back to it, so
with ``baseline_start`` these two proposers never return a plan worse than the best
baseline; ``surco-hybrid``'s zero steps are then what can improve on it (the stats say
where the best plan came from: ``best_from``). Added after ``bench/table_sharding.py``
measured the prior's argmin 4 % above ``greedy-cost`` at 400 tables x 16 devices: there the
interface-side greedy plan overflowed a device (its memory check is approximate, and a
greedy order by cost can fail to pack), so the argmin had to leave it. Set
``baseline_start`` false to measure the network alone.

The hybrid's defaults, measured (2026-11-28, HiGHS) from the greedy-base prior: on the 9
measurement instances no zero setting improved on the prior's plan (30 steps; 60 steps;
``sigma`` 1.0 or 1.5; ``learning_rate`` 0.3; ``temperature`` 0; ``score``; ``blackbox``
with lambda 4; a start blended with the additive costs, weight 0.5: all 0.9999 of
``greedy-cost``; weight 1.0 lost the prior's plan, 1.034): the greedy plan is a local
optimum that the perturbations do not leave, and a local search on the true objective
finds only 0.5-1.1 % on 3 of the 9. On 15 other unseen instances (``generate`` seeds
7001-7015, 10-60 tables, 2-8 devices) 0 / 30 / 60 steps gave 1.004 / 0.978 / 0.977 (one
40 x 2 instance with memory-bandwidth saturation 1.105 -> 0.724 -> 0.706), so the steps
are worth keeping and the default stays 30 (60 doubles the time for 0.1 %).

Rounds: the first proposal is the best costs found (for ``surco-prior``, the predicted
ones), warm-started from the best plan the inner solves met. When the job's solve of those
costs returns a plan worse than that one by the true evaluator (ties or a step time limit
make the two solves differ), a second and final proposal installs the best costs snapped
to that plan (:func:`~surrogates.surco.zero.snap_costs`: its unique argmin), so the job's
answer is never worse than the best plan seen. The pipeline keeps the better round.

Options (all optional; costs in normalized units, see :mod:`surrogates.surco.zero`):

- zero steps (``surco-zero``, ``surco-hybrid``): ``steps`` (default 60 and 30),
  ``learning_rate`` (0.1), ``method`` (``perturbed`` | ``blackbox`` | ``score``),
  ``samples`` (4), ``sigma`` (0.5), ``blackbox_lambda`` (1.0), ``temperature`` (0.1),
  ``solver`` (the registered solver of the inner solves, ``highs``; use one the job's
  solver agrees with), ``step_time_limit_s`` (1.0, per inner solve), ``time_budget_s``
  (20, wall seconds for all steps; set it below the job's ``time_limit_s``, which the
  steps share with the final solve); ``init_noise`` (0.1, ``surco-zero`` only). For kinds
  with a fast inner oracle (below) the defaults differ: ``method`` ``straight_through``,
  ``learning_rate`` 0.5, ``blackbox_lambda`` 2.0, ``time_budget_s`` 300; and
  ``max_simulations`` (200) and ``decay`` (0.97, the step size's factor per step) apply.
- the prior (``surco-prior``, ``surco-hybrid``): ``baseline_start`` (true: see above),
  ``checkpoint`` (a file path, or
  ``"shipped"``, the default: ``surrogates/surco/checkpoints/surco-prior-small.pt``),
  ``device`` (``auto`` | ``cpu`` | ``cuda``). The checkpoint's SHA-256 goes into the
  stats and ``provenance.checkpoint_sha256``.

Kinds with a fast inner oracle (``photonics@1``: per-pixel costs over brush-feasible
designs; :attr:`SurrogateInterface.fast_argmin` is set). Their exact model is too slow for
an inner loop (random costs: no optimality proof in 30 s), so:

- ``surco-zero`` runs :func:`surrogates.surco.pixels.run_pixel_zero` from the straight-path
  costs (plus ``init_noise`` noise): each step the fast oracle's design (threshold, then
  the brush repair) is simulated once (spec loss and adjoint gradient), the gradient goes to
  the costs by ``method`` ``straight_through`` (default, measured in
  :mod:`surrogates.surco.pixels`) or ``blackbox``; it stops at ``max_simulations`` (200),
  ``time_budget_s`` (300 by default here; in a job never later than leaves the final solve
  and evaluation ``max(5 s, 15 %)`` of the time left, :meth:`Proposer.time_left_s`) or at
  the first brush-feasible design meeting the spec. ``steps``, ``samples``, ``sigma``, ``temperature``, ``solver`` and
  ``step_time_limit_s`` are not used; ``perturbed`` and ``score`` are refused (they need a
  solve per sample).
- ``surco-prior``: the pixel prior (:mod:`surrogates.surco.photonics_prior`, a CNN from the
  instance image; ``checkpoint`` ``"shipped"`` is ``checkpoints/surco-prior-photonics.pt``)
  predicts costs, the fast oracle answers them, the design is simulated once (one shot).
  ``baseline_start`` is not used (the density baseline costs tens of simulations).
- ``surco-hybrid``: the pixel prior's costs, then ``surco-zero``'s loop from them.

How feasibility is guaranteed. The proposal's costs are ``1 - 2 x_best`` (the design the
loop kept: the best one the independent checker :func:`problems.photonics.brush.check_brush`
passed, or the best design met when none passed) and its warm start is that design when it
passed. The job's solve is the *exact* brush model (every solution brush-feasible by
construction), whose unique optimum is then ``x_best`` itself (the nearest feasible design
to it otherwise), proved at once from the warm start (0.4 s on the example). The pipeline
returns the solver's design, or the warm start when the true evaluator finds it feasible
and strictly better; either way the returned design passed the exact model or the
evaluator's own brush check. No snap round is needed (the costs already pin the design).

Torch is imported only when a prior is used, inside :meth:`_ask` (the API process loads
these classes to validate specs).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from designsvc.core.options import parse_options
from designsvc.core.proposer import Feedback, Proposal, Proposer
from designsvc.core.types import JsonDict

__all__ = [
    "HybridOptions",
    "PriorOptions",
    "SurCoHybridProposer",
    "SurCoPriorProposer",
    "SurCoZeroProposer",
    "ZeroOptions",
]

_RELATIVE_TOLERANCE = 1e-9
DEFAULT_PIXEL_METHOD: Literal["straight_through", "blackbox"] = "straight_through"
"""Fast-oracle kinds: the default estimator and its step sizes (see :mod:`surrogates.surco.pixels`)."""
DEFAULT_PIXEL_LEARNING_RATE = 0.5
DEFAULT_PIXEL_LAMBDA = 2.0
DEFAULT_PIXEL_BUDGET_S = 300.0


class _StepOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learning_rate: float | None = Field(default=None, gt=0, le=100)
    method: Literal["perturbed", "blackbox", "score", "straight_through"] | None = None
    samples: int = Field(default=4, ge=2, le=256)
    sigma: float = Field(default=0.5, gt=0, le=100)
    blackbox_lambda: float | None = Field(default=None, gt=0, le=1000)
    temperature: float = Field(default=0.1, ge=0, le=10)
    solver: str = "highs"
    step_time_limit_s: float = Field(default=1.0, gt=0, le=3600)
    time_budget_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    max_simulations: int = Field(default=200, ge=1, le=1_000_000)
    decay: float = Field(default=0.97, gt=0, le=1)

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, value: str) -> str:
        from designsvc.core.plugins import SOLVERS

        names = SOLVERS.names()
        if value not in names:
            raise ValueError(f"unknown solver {value!r}; registered: {', '.join(sorted(names))}")
        return value


class ZeroOptions(_StepOptions):
    """``surco-zero``'s options (see the module docstring)."""

    steps: int = Field(default=60, ge=0, le=100_000)
    init_noise: float = Field(default=0.1, ge=0, le=100)


class PriorOptions(BaseModel):
    """``surco-prior``'s options (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(default="shipped", min_length=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    baseline_start: bool = True


class HybridOptions(_StepOptions):
    """``surco-hybrid``'s options (see the module docstring)."""

    steps: int = Field(default=30, ge=0, le=100_000)
    checkpoint: str = Field(default="shipped", min_length=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    baseline_start: bool = True


def _validate(schema: type[BaseModel], options: Mapping[str, Any]) -> Any:
    return parse_options(schema, options)


class _SurCoProposer(Proposer):
    """The rounds shared by the three proposers; subclasses fill :meth:`_optimize`, which
    returns ``(costs, best plan or None, best objective or None, summary)``."""

    options_schema: ClassVar[type[BaseModel]]
    problems: ClassVar[frozenset[str] | None] = frozenset({"table-sharding@1", "photonics@1"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.costs: list[list[float]] | None = None
        self.best_design: JsonDict | None = None
        self.best_objective: float | None = None
        self.snap = False
        self.summary: JsonDict | None = None
        self._fingerprint: str | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        _validate(cls.options_schema, options)

    def fingerprint(self) -> str | None:
        return self._fingerprint

    def _ask(self) -> Proposal | None:
        interface = self.problem.surrogate_interface()
        if self.asked == 0:
            t = time.perf_counter()
            costs, design, objective, summary = self._optimize(interface)
            self.costs = np.asarray(costs, dtype=np.float64).tolist()
            self.best_design, self.best_objective = design, objective
            self.summary = {**summary, "propose_s": time.perf_counter() - t}
            found = "" if objective is None else f"; best plan met {objective:.6g}"
            return Proposal(
                warm_start=design,
                fixed=interface.costs_fixed(np.asarray(self.costs)),
                label=f"{self.name}: argmin of the learned costs{found}",
            )
        if self.asked == 1 and self.snap and self.costs is not None and self.best_design is not None:
            from surrogates.surco.zero import snap_costs

            costs = snap_costs(np.asarray(self.costs), interface.decision(self.best_design))
            return Proposal(
                warm_start=self.best_design,
                fixed=interface.costs_fixed(costs),
                label=f"{self.name}: the learned costs snapped to the best plan met ({self.best_objective:.6g})",
            )
        return None

    def _tell(self, proposal: Proposal, feedback: Feedback) -> None:
        del proposal
        if self.told != 1 or self.best_objective is None:
            return
        got = feedback.evaluation
        tolerance = _RELATIVE_TOLERANCE * max(1.0, abs(self.best_objective))
        worse = got is None or not got.feasible or got.objective > self.best_objective + tolerance
        # Fast-oracle kinds: the proposed costs already make the best design the unique argmin.
        self.snap = worse and self.problem.surrogate_interface().fast_argmin is None

    def _optimize(self, interface: Any) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
        raise NotImplementedError

    def _zero(self, interface: Any, opts: Any, c_start: Any, rng: np.random.Generator) -> tuple[Any, JsonDict]:
        """SurCo-zero steps from ``c_start``: ``(ZeroResult, summary)``, or ``(None,
        summary)`` when the solver finds no plan for ``c_start``."""
        from designsvc.core.plugins import SOLVERS
        from surrogates.surco.zero import NoPlanError, SolverOracle, ZeroConfig, run_zero

        if opts.method == "straight_through":
            raise ValueError("option 'method': straight_through needs a kind with a fast inner oracle (photonics@1)")
        config = ZeroConfig(
            steps=opts.steps,
            learning_rate=0.1 if opts.learning_rate is None else opts.learning_rate,
            method=opts.method or "perturbed",
            samples=opts.samples,
            sigma=opts.sigma,
            blackbox_lambda=1.0 if opts.blackbox_lambda is None else opts.blackbox_lambda,
            temperature=opts.temperature,
            time_budget_s=20.0 if opts.time_budget_s is None else opts.time_budget_s,
        )
        oracle = SolverOracle(
            self.problem,
            interface,
            SOLVERS.load(opts.solver)(),
            time_limit_s=opts.step_time_limit_s,
            seed=self.seed,
        )
        summary: JsonDict = {"method": config.method, "solver": opts.solver}
        try:
            left = self.time_left_s()
            budget = config.time_budget_s if left is None else min(config.time_budget_s, left)
            result = run_zero(c_start, oracle, config, rng=rng, deadline=time.perf_counter() + budget)
        except NoPlanError as exc:
            # Most likely an infeasible instance: the job's own solve of the start costs
            # then reports it (a result, not a failure).
            return None, {**summary, "note": f"{exc}; no steps taken"}
        return result, {**summary, **result.summary()}

    def _pixel_zero(
        self, interface: Any, opts: Any, c_start: Any
    ) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
        """SurCo-zero through the kind's fast oracle (:mod:`surrogates.surco.pixels`):
        ``(costs, best design or None, its objective, summary)``. The costs are
        ``1 - 2 x_best`` (the exact model's argmin is the design nearest to the best one
        met: itself when the oracle's check passed it), so the job's solve is the exact
        model's final check."""
        from surrogates.surco.pixels import PixelConfig, run_pixel_zero, target_costs

        method = opts.method or DEFAULT_PIXEL_METHOD
        if method not in ("straight_through", "blackbox"):
            raise ValueError(
                f"option 'method': {method} needs a solver per step; this kind takes straight_through or blackbox"
            )
        config = PixelConfig(
            method=method,
            learning_rate=DEFAULT_PIXEL_LEARNING_RATE if opts.learning_rate is None else opts.learning_rate,
            blackbox_lambda=DEFAULT_PIXEL_LAMBDA if opts.blackbox_lambda is None else opts.blackbox_lambda,
            max_simulations=opts.max_simulations,
            decay=opts.decay,
            time_budget_s=DEFAULT_PIXEL_BUDGET_S if opts.time_budget_s is None else opts.time_budget_s,
        )
        # The loop also stops in time to leave the job's final exact solve and evaluation
        # their share of the job's time limit (Proposer.time_left_s).
        budget = config.time_budget_s
        left = self.time_left_s()
        if left is not None:
            budget = min(budget, left)
        result = run_pixel_zero(c_start, interface, config, deadline=time.perf_counter() + budget)
        summary: JsonDict = {
            "method": method,
            "oracle": "fast_argmin",
            "loop_budget_s": budget,
            **result.summary(),
        }
        best = result.best if result.best is not None else result.best_any
        design = interface.design(best.x) if result.best is not None else None
        objective = best.objective if result.best is not None else None
        return target_costs(best.x), design, objective, summary

    def stats(self) -> JsonDict:
        return {**super().stats(), "surco": self.summary}

    def _get_state(self) -> JsonDict:
        return {
            "costs": self.costs,
            "best_design": self.best_design,
            "best_objective": self.best_objective,
            "snap": self.snap,
            "summary": self.summary,
            "fingerprint": self._fingerprint,
        }

    def _set_state(self, state: JsonDict) -> None:
        self.costs = state.get("costs")
        self.best_design = state.get("best_design")
        self.best_objective = state.get("best_objective")
        self.snap = bool(state.get("snap", False))
        self.summary = state.get("summary")
        self._fingerprint = state.get("fingerprint")


def _predict(
    proposer: _SurCoProposer, interface: Any, checkpoint_name: str, device_name: str
) -> tuple[Any, JsonDict, tuple[JsonDict, float] | None]:
    """The prior's normalized costs for ``interface`` (numpy), a summary, and for a prior
    with the greedy base that base plan with its true objective when the evaluator finds it
    feasible (None otherwise): the proposers keep it as the best plan met, so the solver's
    answer to the costs is warm-started from it and, if worse by the true evaluator, snapped
    back to it (the base plan's feasibility is computed from the interface's approximate
    memory features; the evaluator decides)."""
    import torch

    from surrogates.surco import checkpoint
    from surrogates.surco.prior import prior_inputs

    device = checkpoint.select_device(device_name)
    path = checkpoint.resolve_path(checkpoint_name)
    try:
        prior, meta, proposer._fingerprint = checkpoint.load(path, device)
        checkpoint.check_features(prior, interface, str(path))
    except ValueError as exc:
        raise ValueError(f"option 'checkpoint': {exc}") from exc
    inputs = prior_inputs(prior.config, interface, device)
    with torch.no_grad():
        costs = prior(*inputs).double().cpu().numpy()
    summary: JsonDict = {
        "checkpoint": str(path),
        "checkpoint_sha256": proposer._fingerprint,
        "checkpoint_instances": len(meta.get("instances") or []),
        "device": str(device),
    }
    base: tuple[JsonDict, float] | None = None
    if prior.config.greedy_base:
        design = interface.design(inputs[3].double().cpu().numpy())
        evaluation = proposer.problem.evaluate(design)
        summary["base_objective"] = evaluation.objective if evaluation.feasible else None
        if evaluation.feasible:
            base = (design, evaluation.objective)
    return costs, summary, base


def _predict_pixels(
    proposer: _SurCoProposer, interface: Any, checkpoint_name: str, device_name: str
) -> tuple[Any, JsonDict]:
    """The pixel prior's costs (:mod:`surrogates.surco.photonics_prior`) for a kind with a
    fast oracle, and a summary; ``"shipped"`` is the shipped pixel checkpoint."""
    import torch

    from surrogates.surco import checkpoint, photonics_prior

    device = checkpoint.select_device(device_name)
    path = photonics_prior.SHIPPED if checkpoint_name in ("shipped", None) else Path(checkpoint_name)
    try:
        prior, meta, proposer._fingerprint = photonics_prior.load(path, device)
        photonics_prior.check_inputs(prior, interface, str(path))
    except ValueError as exc:
        raise ValueError(f"option 'checkpoint': {exc}") from exc
    with torch.no_grad():
        costs = prior(*photonics_prior.pixel_inputs(interface, device)).double().cpu().numpy()
    summary: JsonDict = {
        "checkpoint": str(path),
        "checkpoint_sha256": proposer._fingerprint,
        "checkpoint_instances": len(meta.get("instances") or []),
        "device": str(device),
    }
    return costs, summary


def _pixel_one_shot(
    proposer: _SurCoProposer, interface: Any, costs: Any
) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
    """The fast oracle's answer to ``costs``, simulated once: ``(1 - 2 x, design if the
    oracle's check passes it, its objective, summary)``."""
    from surrogates.surco.pixels import target_costs

    x, feasible = interface.fast_argmin(costs)
    design = interface.design(x)
    summary: JsonDict = {"oracle": "fast_argmin", "oracle_feasible": bool(feasible), "simulations": 1}
    if not feasible:
        return target_costs(x), None, None, summary
    evaluation = proposer.problem.evaluate(design)
    summary["one_shot_objective"] = evaluation.objective
    if not evaluation.feasible:
        return target_costs(x), None, None, summary
    return target_costs(x), design, evaluation.objective, summary


def _best_baseline(problem: Any) -> tuple[JsonDict, float, str] | None:
    """The best feasible plan of the problem's own baselines (by the true evaluator), with
    its objective and the baseline's name; None when none is feasible."""
    best: tuple[JsonDict, float, str] | None = None
    for name, heuristic in problem.baselines().items():
        design = heuristic(0)
        evaluation = problem.evaluate(design)
        if evaluation.feasible and (best is None or evaluation.objective < best[1]):
            best = (design, evaluation.objective, name)
    return best


def _with_base(
    proposer: _SurCoProposer,
    answer: tuple[Any, JsonDict | None, float | None, JsonDict],
    base: tuple[JsonDict, float] | None,
    baseline_start: bool,
) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
    """``answer`` with the prior's base plan, or with ``baseline_start`` the best baseline
    plan, as the best plan met when it is better than the answer's."""
    costs, design, objective, summary = answer
    starts: list[tuple[JsonDict, float, str]] = [] if base is None else [(base[0], base[1], "prior's base plan")]
    if baseline_start:
        found = _best_baseline(proposer.problem)
        if found is not None:
            starts.append((found[0], found[1], f"baseline {found[2]}"))
            summary = {**summary, "baseline_objective": found[1], "baseline": found[2]}
    for plan, value, label in starts:
        if objective is None or value < objective:
            design, objective, summary = plan, value, {**summary, "best_from": label}
    return costs, design, objective, summary


def _outcome(result: Any, c_start: Any, summary: JsonDict) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
    """``_optimize``'s answer from a ZeroResult (or None: no plan for the start costs)."""
    if result is None:
        return c_start, None, None, summary
    best = result.best
    if best is None:
        return result.final_costs, None, None, summary
    return best.costs, best.design, best.objective, summary


class SurCoZeroProposer(_SurCoProposer):
    """See the module docstring."""

    name: ClassVar[str] = "surco-zero"
    title: ClassVar[str] = "SurCo-zero: gradient steps on linear costs through the solver"
    queue: ClassVar[str] = "cpu"
    options_schema: ClassVar[type[BaseModel]] = ZeroOptions

    def _optimize(self, interface: Any) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
        from surrogates.surco.zero import start_costs

        opts = ZeroOptions.model_validate(self.options)
        rng = np.random.default_rng(self.seed)
        if interface.fast_argmin is not None:
            noise = rng.standard_normal(interface.initial_costs.shape)
            return self._pixel_zero(interface, opts, interface.initial_costs + opts.init_noise * noise)
        c_start = start_costs(interface.initial_costs, rng, opts.init_noise)
        result, summary = self._zero(interface, opts, c_start, rng)
        return _outcome(result, c_start, summary)


class SurCoPriorProposer(_SurCoProposer):
    """See the module docstring."""

    name: ClassVar[str] = "surco-prior"
    title: ClassVar[str] = "SurCo-prior: a network predicts the linear costs from table features"
    queue: ClassVar[str] = "gpu"
    options_schema: ClassVar[type[BaseModel]] = PriorOptions

    def _optimize(self, interface: Any) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
        from surrogates.surco.zero import COST_DECIMALS

        opts = PriorOptions.model_validate(self.options)
        if interface.fast_argmin is not None:
            costs, summary = _predict_pixels(self, interface, opts.checkpoint, opts.device)
            c, design, objective, shot = _pixel_one_shot(self, interface, costs)
            return c, design, objective, {**summary, **shot}
        costs, summary, base = _predict(self, interface, opts.checkpoint, opts.device)
        return _with_base(self, (np.round(costs, COST_DECIMALS), None, None, summary), base, opts.baseline_start)


class SurCoHybridProposer(_SurCoProposer):
    """See the module docstring."""

    name: ClassVar[str] = "surco-hybrid"
    title: ClassVar[str] = "SurCo-hybrid: the prior's costs, then SurCo-zero steps"
    queue: ClassVar[str] = "gpu"
    options_schema: ClassVar[type[BaseModel]] = HybridOptions

    def _optimize(self, interface: Any) -> tuple[Any, JsonDict | None, float | None, JsonDict]:
        from surrogates.surco.zero import normalize_costs

        opts = HybridOptions.model_validate(self.options)
        if interface.fast_argmin is not None:
            costs, prior_summary = _predict_pixels(self, interface, opts.checkpoint, opts.device)
            c, design, objective, summary = self._pixel_zero(interface, opts, costs)
            return c, design, objective, {**prior_summary, **summary}
        costs, prior_summary, base = _predict(self, interface, opts.checkpoint, opts.device)
        rng = np.random.default_rng(self.seed)
        c_start = normalize_costs(costs)
        result, summary = self._zero(interface, opts, c_start, rng)
        answer = _outcome(result, c_start, {**prior_summary, **summary})
        return _with_base(self, answer, base, opts.baseline_start)
