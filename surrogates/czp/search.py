"""Surrogate-guided search for a design meeting an ``|S11|`` target: optimize on the CZP
surrogate, verify in the simulator, refit, repeat (the loop of the ``czp-search`` proposer,
kept apart from the proposer so benchmarks and tests call it directly).

Works on a :class:`~designsvc.core.parametric.ParametricInterface` (``P`` parameters in a
polytope, a simulator, band masks) and a surrogate whose inputs are unit coordinates of a
*model box* ``model_lower``-``model_upper`` (the box its training designs were drawn from;
the instance's own bounds may differ, so coordinates are mapped).

One round:

1. **Pool.** ``pool`` designs sampled uniformly from the space (the interface's sampler)
   are scored on the surrogate by the *margin loss*: the target shortfall with every pass
   ceiling lowered and every reject floor raised by ``margin_db`` (the surrogate errs by a
   dB or two; aiming past the target leaves room for it).
2. **Gradient.** The ``starts`` best of the pool, the best simulated design so far and
   jittered copies of it take ``steps`` Adam steps (``step_lr``, in unit coordinates) on the
   margin loss plus a quadratic penalty on the rules ``A x <= b`` (rows normalized), clamped
   to the box after each step.
3. **Projection.** Each end point is projected onto the space (the interface's L1
   projection, the LP the Pyomo model states), so every candidate is feasible, and scored
   again on the surrogate.
4. **Verification.** The ``batch`` best candidates by margin loss that lie at least
   ``min_distance`` (RMS over unit coordinates) from every design simulated before are
   simulated (one simulator call each; ``max_simulations`` in all). The first that meets the
   target ends the search.
5. **Refit.** The surrogate is fine-tuned on every simulation of this instance so far
   (``refit_steps`` Adam steps, ``refit_lr``), with a replay term that keeps it close to its
   own starting predictions on ``replay`` random designs (weight ``replay_weight``), so a
   handful of new points does not make it forget the rest of the space.

The search stops at the first design meeting the target, when ``max_simulations`` are
spent, or at ``deadline`` (a ``time.perf_counter()`` value). Without a checkpoint
(``initial_simulations`` > 0) it first simulates that many sampled designs and fits the
surrogate to them for ``initial_fit_steps`` steps.

``prediction_rmse_db``: the RMS dB error of the surrogate's prediction of each verified
design *before* its simulation was added (the honest, prequential error on this instance).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from designsvc.core.parametric import ParametricInterface, s11_db
from surrogates.czp.response import DB_FLOOR

__all__ = ["SearchConfig", "SearchOutcome", "czp_search"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SearchConfig:
    """See the module docstring."""

    max_simulations: int = 60
    batch: int = 3
    pool: int = 2048
    starts: int = 24
    steps: int = 120
    step_lr: float = 0.02
    margin_db: float = 1.5
    penalty: float = 100.0
    min_distance: float = 0.01
    refit_steps: int = 60
    refit_lr: float = 1e-3
    replay: int = 512
    replay_weight: float = 0.3
    initial_simulations: int = 0
    initial_fit_steps: int = 400
    seed: int = 0


@dataclass
class SearchOutcome:
    """The best simulated design (``params``, (P,) in the kind's units; None when nothing was
    simulated), its true loss (dB), whether it meets the target, simulator calls
    (``simulations``; ``calls_to_success`` the number spent up to and including the first
    design meeting the target, None when none did), rounds, the prequential prediction error
    and per-round records."""

    params: FloatArray | None
    loss_db: float
    met: bool
    simulations: int
    calls_to_success: int | None
    rounds: int
    prediction_rmse_db: float | None
    first_round_rmse_db: float | None
    stopped_by: str
    wall_s: float
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = None if self.params is None else [float(v) for v in self.params]
        return data


class _Problem:
    """Torch views of the interface's target and rules (float32, on ``device``)."""

    def __init__(
        self,
        interface: ParametricInterface,
        model_lower: FloatArray,
        model_upper: FloatArray,
        device: torch.device,
    ) -> None:
        self.interface = interface
        self.device = device
        f32 = torch.float32
        self.freqs = torch.as_tensor(interface.freqs_hz, dtype=torch.float64, device=device)
        span = interface.span
        # instance unit u -> model unit v = (lower + u span - m_lower) / m_span
        m_span = np.maximum(model_upper - model_lower, 1e-12)
        self.scale = torch.as_tensor(span / m_span, dtype=f32, device=device)
        self.offset = torch.as_tensor((interface.lower - model_lower) / m_span, dtype=f32, device=device)
        A, b = interface.rules_matrix, interface.rules_rhs
        A_u = A * span
        b_u = b - A @ interface.lower
        norms = np.maximum(np.linalg.norm(A_u, axis=1), 1e-12)
        self.A = torch.as_tensor(A_u / norms[:, None], dtype=f32, device=device)
        self.b = torch.as_tensor(b_u / norms, dtype=f32, device=device)
        self.pass_masks = torch.as_tensor(interface.pass_masks, device=device)
        self.pass_limits = torch.as_tensor(interface.pass_ceilings_db, dtype=f32, device=device)
        self.reject_masks = torch.as_tensor(interface.reject_masks, device=device)
        self.reject_limits = torch.as_tensor(interface.reject_floors_db, dtype=f32, device=device)

    def model_input(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.scale + self.offset

    def loss(self, db: torch.Tensor, margin_db: float) -> torch.Tensor:
        """(N, F) dB -> (N,) shortfall against the target moved by ``margin_db``."""
        total = torch.zeros(db.shape[0], dtype=db.dtype, device=db.device)
        for mask, limit in zip(self.pass_masks, self.pass_limits, strict=True):
            total = total + torch.relu(db[:, mask] - (limit - margin_db)).mean(dim=1)
        for mask, limit in zip(self.reject_masks, self.reject_limits, strict=True):
            total = total + torch.relu((limit + margin_db) - db[:, mask]).mean(dim=1)
        return total

    def penalty(self, u: torch.Tensor) -> torch.Tensor:
        if self.A.shape[0] == 0:
            return torch.zeros(u.shape[0], device=u.device)
        return torch.relu(u @ self.A.T - self.b).square().sum(dim=1)


def _predict(model: Any, problem: _Problem, u: FloatArray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(u, dtype=torch.float32, device=problem.device)
    out: torch.Tensor = model.predict_db(problem.model_input(x), problem.freqs, DB_FLOOR)
    return out


def czp_search(
    interface: ParametricInterface,
    model: Any,
    *,
    model_lower: FloatArray,
    model_upper: FloatArray,
    config: SearchConfig | None = None,
    deadline: float | None = None,
    starts: FloatArray | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> SearchOutcome:
    """Search (see the module docstring). ``model``: a surrogate with ``predict_db`` (a
    :class:`~surrogates.czp.CZPSurrogate`), fine-tuned in place; ``model_lower`` and
    ``model_upper`` (P,) the box of its unit coordinates (kind's units); ``starts``: optional
    designs (S, P) to simulate first (e.g. a known good design). ``on_round`` gets each
    round's record."""
    cfg = config or SearchConfig()
    t_start = time.perf_counter()
    module: torch.nn.Module = model
    device = next(module.parameters()).device
    problem = _Problem(interface, np.asarray(model_lower, float), np.asarray(model_upper, float), device)
    rng = np.random.default_rng(cfg.seed)

    xs: list[FloatArray] = []  # instance unit coordinates of simulated designs
    dbs: list[FloatArray] = []  # their simulated dB curves (NaN rows excluded)
    losses: list[float] = []
    errors: list[float] = []
    history: list[dict[str, Any]] = []
    best: tuple[float, FloatArray | None] = (math.inf, None)
    calls = 0
    success: int | None = None
    stopped_by = "budget"

    def out_of_time() -> bool:
        return deadline is not None and time.perf_counter() > deadline

    def simulate(units: FloatArray, predicted: FloatArray | None) -> bool:
        """Simulates the rows of ``units``; True when one meets the target."""
        nonlocal calls, best, success
        for i, u in enumerate(units):
            if calls >= cfg.max_simulations or out_of_time():
                return False
            params = interface.from_unit(u)
            s11 = interface.simulate(params[None, :])[0]
            calls += 1
            if not np.isfinite(s11).all():
                losses.append(interface.worst_loss_db())
                continue
            db = s11_db(s11)
            loss = float(interface.target_loss_db(db))
            xs.append(np.asarray(u, dtype=np.float64))
            dbs.append(np.maximum(db, DB_FLOOR))
            losses.append(loss)
            if predicted is not None:
                errors.append(float(np.sqrt(np.mean((predicted[i] - np.maximum(db, DB_FLOOR)) ** 2))))
            if loss < best[0]:
                best = (loss, params)
            if loss <= 0.0:
                success = calls
                return True
        return False

    # Replay: the starting model's own predictions on random designs of the space.
    replay_u = interface.to_unit(interface.sample(cfg.replay, cfg.seed + 7919)) if cfg.replay > 0 else None
    replay_db: torch.Tensor | None = None
    if replay_u is not None and cfg.initial_simulations == 0:
        with torch.no_grad():
            replay_db = _predict(model, problem, replay_u).detach()

    def refit(steps: int) -> None:
        if not xs:
            return
        x_real = torch.as_tensor(np.array(xs), dtype=torch.float32, device=device)
        y_real = torch.as_tensor(np.array(dbs), dtype=torch.float32, device=device)
        x_replay = None if replay_db is None else torch.as_tensor(replay_u, dtype=torch.float32, device=device)
        opt = torch.optim.Adam(module.parameters(), lr=cfg.refit_lr)
        module.train()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = ((_predict(model, problem, x_real) - y_real) ** 2).mean()
            if x_replay is not None and replay_db is not None and cfg.replay_weight > 0:
                loss = loss + cfg.replay_weight * ((_predict(model, problem, x_replay) - replay_db) ** 2).mean()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        module.train(False)

    done = False
    if starts is not None and len(starts):
        start_u = np.clip(interface.to_unit(np.atleast_2d(starts)), 0.0, 1.0)
        with torch.no_grad():
            pred = _predict(model, problem, start_u).cpu().numpy().astype(np.float64)
        done = simulate(start_u, pred)
    if not done and cfg.initial_simulations > 0:
        init_u = interface.to_unit(interface.sample(cfg.initial_simulations, cfg.seed + 1))
        done = simulate(init_u, None)
        refit(cfg.initial_fit_steps)
    rounds = 0
    while not done:
        if calls >= cfg.max_simulations:
            stopped_by = "budget"
            break
        if out_of_time():
            stopped_by = "deadline"
            break
        rounds += 1
        t_round = time.perf_counter()
        candidates, predicted_db, predicted_loss = _propose(
            model, problem, interface=interface, cfg=cfg, rng=rng, best_params=best[1]
        )
        chosen: list[int] = []
        taken = [*xs]
        for k in np.argsort(predicted_loss, kind="stable"):
            if len(chosen) >= cfg.batch:
                break
            u = candidates[k]
            if taken and min(_distance(u, v) for v in taken) < cfg.min_distance:
                continue
            chosen.append(int(k))
            taken.append(u)
        if not chosen:  # everything proposed was simulated before: explore
            chosen = [int(rng.integers(len(candidates)))]
        before, losses_before = len(errors), len(losses)
        done = simulate(candidates[chosen], predicted_db[chosen])
        record = {
            "round": rounds,
            "simulations": calls,
            "predicted_margin_loss_db": [float(predicted_loss[k]) for k in chosen],
            "true_loss_db": losses[losses_before:],
            "best_loss_db": best[0],
            "prediction_rmse_db": float(np.sqrt(np.mean(np.square(errors[before:])))) if errors[before:] else None,
            "round_s": time.perf_counter() - t_round,
        }
        history.append(record)
        if on_round is not None:
            on_round(record)
        if done:
            stopped_by = "met"
            break
        refit(cfg.refit_steps)
    if done:
        stopped_by = "met"
    first = history[0]["prediction_rmse_db"] if history else None
    return SearchOutcome(
        params=best[1],
        loss_db=best[0] if best[1] is not None else interface.worst_loss_db(),
        met=success is not None,
        simulations=calls,
        calls_to_success=success,
        rounds=rounds,
        prediction_rmse_db=float(np.sqrt(np.mean(np.square(errors)))) if errors else None,
        first_round_rmse_db=first,
        stopped_by=stopped_by,
        wall_s=time.perf_counter() - t_start,
        history=history,
    )


def _distance(u: FloatArray, v: FloatArray) -> float:
    return float(np.sqrt(np.mean((u - v) ** 2)))


def _propose(
    model: Any,
    problem: _Problem,
    *,
    interface: ParametricInterface,
    cfg: SearchConfig,
    rng: np.random.Generator,
    best_params: FloatArray | None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(candidates (C, P) unit, predicted dB (C, F), predicted margin loss (C,))``, every
    candidate projected onto the space."""
    pool = interface.to_unit(interface.sample(cfg.pool, int(rng.integers(2**31))))
    with torch.no_grad():
        scores = problem.loss(_predict(model, problem, pool), cfg.margin_db).cpu().numpy()
    order = np.argsort(scores, kind="stable")[: cfg.starts]
    starts = [pool[order]]
    if best_params is not None:
        centre = interface.to_unit(best_params)
        jitter = centre + 0.03 * rng.standard_normal((max(2, cfg.starts // 4), centre.size))
        starts.append(np.vstack([centre[None, :], np.clip(jitter, 0.0, 1.0)]))
    u0 = np.vstack(starts)
    u = torch.as_tensor(u0, dtype=torch.float32, device=problem.device).clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=cfg.step_lr)
    for _ in range(cfg.steps):
        opt.zero_grad(set_to_none=True)
        objective = problem.loss(_predict(model, problem, u), cfg.margin_db) + cfg.penalty * problem.penalty(u)
        objective.sum().backward()  # type: ignore[no-untyped-call]
        opt.step()
        with torch.no_grad():
            u.clamp_(0.0, 1.0)
    ends = u.detach().cpu().numpy().astype(np.float64)
    projected = np.vstack([interface.to_unit(interface.project(interface.from_unit(row))) for row in ends])
    candidates = np.vstack([np.clip(projected, 0.0, 1.0), pool[order]])
    with torch.no_grad():
        db = _predict(model, problem, candidates)
        margin = problem.loss(db, cfg.margin_db).cpu().numpy().astype(np.float64)
    return candidates, db.cpu().numpy().astype(np.float64), margin
