"""The ``surco-prior`` trainer: fits the SurCo-prior network (:mod:`surrogates.surco.prior`)
over many instances of ``table-sharding@1``.

Two objectives (option ``objective``):

- ``imitation`` (the default): every training instance gets a target plan ``x_best``
  (option ``target``): ``zero``: SurCo-zero's best plan
  (:func:`surrogates.surco.zero.run_zero`, its default estimator, ``zero_steps`` steps
  from the additive costs); ``search`` (the default): the best, by the true evaluator, of
  that plan, the greedy plan (:func:`surrogates.surco.targets.greedy_plan`) and the local
  search on the true objective (:func:`surrogates.surco.targets.local_search`,
  ``search_seconds`` each) from both; ``greedy_search``: the greedy plan and its local
  search only (a small edit of the greedy base). The network's costs
  ``c`` give each row the distribution ``softmax(-c[t] / imitation_temperature)`` over
  columns; the loss is its cross-entropy against ``x_best``, after matching the target's
  columns to the network's among interchangeable columns (equal column features, e.g.
  identical devices) by the assignment that fits the network best (Hungarian method): a
  plan and its relabelling of identical devices are the same plan, so the network is not
  asked to guess the labels. Lower loss means ``argmin <c, x>`` per row is the target's
  column, so the solver's answer to ``c`` is (near) the target plan.
- ``end_to_end``: the loss is the true objective of the solver's answer,
  ``f(x*(c)) / f_balanced``, its gradient with respect to ``c`` estimated exactly as
  SurCo-zero does (:func:`surrogates.surco.zero.estimate_gradient`: ``method``,
  ``samples``, ``sigma``, ``blackbox_lambda``, ``temperature``) and back-propagated
  through the network (``samples`` solves per instance and epoch).

Measured on 12 generated instances (10-30 tables, 2-8 devices; no position base), mean
ratio of the prior's answer to ``f_balanced`` on those instances before -> after
training: ``end_to_end`` 20 epochs 2.24 -> 2.62 (no better than the random start's 2.18:
the estimate through a random network is too noisy to learn from); ``imitation`` 40
epochs 2.24 -> 1.57 (targets 1.48). Hence the default. ``f_balanced`` is the relaxed
objective of the even fractional plan ``x = 1/D``, so instances of any scale weigh alike.
Imitation fits its training instances but generalizes poorly (64 instances; unseen ones
stayed 1.8-2.5x the ``greedy-cost`` baseline, while the position base alone was 1.29x),
hence the position base (:mod:`surrogates.surco.prior`) and the model selection below.

Then (2026-11-28, this machine; ratios to ``f_balanced``, held-out = the 25 % validation
split): with the ``greedy`` base (the default ``base``; the untrained network is the
greedy plan, 1.000 of ``greedy-cost`` on the 9 measurement instances against the position
base's 1.288) the stronger targets are better than the base on 28 of 48 training
instances (``search``: mean 1.628 vs the base's 1.638, SurCo-zero's alone 1.699), but
imitating them did not generalize: 64 instances, 60 epochs, ``residual_gain`` 0 or 0.3:
the loss fell 3.1 -> 0.74 while the held-out ratio went from 1.5568 (epoch 0) to 1.81-2.15
(best 1.5565 at epochs 2-12, one instance's tie); ``greedy_search`` targets (48
instances, or 192 of 256 with 64 held out; learning rate 3e-3 or 1e-3, temperature 0.3
or 1.0): the training plans never changed (the residual does not overcome the base's
margin where it helps) and the held-out ratio only rose (256: 1.7196 -> 1.72-1.78);
``search`` targets on 256 instances (zero_steps 30): 1.7196 -> 1.73-1.91. Model selection
therefore keeps (nearly) the untrained network: what generalizes is the greedy base.

Validation: a seeded ``validation_fraction`` of the instances (default 0.25) is held
out (no targets, no gradient); every ``validate_every`` epochs (5) the mean ratio of the
prior's answers on them is measured, and the checkpoint keeps the weights of the best
such measurement, the untrained network (epoch 0) included (``kept_epoch`` in the metrics).

Options (all optional): ``objective``, ``zero_steps`` (60), ``imitation_temperature``
(0.3), ``epochs`` (passes over the instances, 40), ``batch_size`` (8), ``learning_rate``
(3e-3), ``hidden`` (64) and ``harmonics`` (4) (network sizes), ``base`` (``greedy``,
``position`` or ``none``), ``position_feature`` (``load_rank``; for the ``position``
base), ``position_width_feature`` (``load_share``), ``target`` (``search``),
``search_seconds`` (2.0), ``residual_gain`` (0: the learned part starts switched off and
the untrained network is the base), ``validation_fraction``, ``validate_every``, the estimator's options
as for ``surco-zero``, ``solver`` (``highs``) and ``step_time_limit_s`` (1.0) for the
inner solves, ``init_checkpoint`` (fine-tune a checkpoint file or ``"shipped"``; the
sizes then come from it), ``device`` (``auto`` | ``cpu`` | ``cuda``). Weights: Adam, one
step per ``batch_size`` instances, gradient norm clipped at 1.

It stops after ``epochs``, at the job's time limit (keeping time for the final
evaluation) or on cancel, and returns the checkpoint (``surco-prior.pt``), a PNG of the
learning curve, and metrics: per epoch the imitation loss (or, end to end, the mean ratio
``f / f_balanced`` of the perturbed answers), the targets' ratios, and per instance, before
and after training, the ratio of the solver's answer to the prior's costs and, for
reference, of SurCo-zero's start (the additive costs with seeded noise). Progress events:
one per target (``stage: targets``) and one per epoch.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from designsvc.core.cancel import CancelToken
from designsvc.core.options import parse_options as _parse
from designsvc.core.problem import Problem
from designsvc.core.trainer import Trainer, TrainingOutput
from designsvc.core.types import Artifact, JsonDict

__all__ = ["SurCoPriorTrainer", "TrainerOptions", "parse_options"]


class TrainerOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=40, ge=1, le=100_000)
    batch_size: int = Field(default=8, ge=1, le=1000)
    learning_rate: float = Field(default=3e-3, gt=0, le=1)
    hidden: int = Field(default=64, ge=4, le=1024)
    harmonics: int = Field(default=4, ge=1, le=64)
    objective: Literal["imitation", "end_to_end"] = "imitation"
    zero_steps: int = Field(default=60, ge=0, le=100_000)
    imitation_temperature: float = Field(default=0.3, gt=0, le=100)
    method: Literal["perturbed", "blackbox", "score"] = "perturbed"
    samples: int = Field(default=4, ge=2, le=256)
    sigma: float = Field(default=0.5, gt=0, le=100)
    blackbox_lambda: float = Field(default=1.0, gt=0, le=1000)
    temperature: float = Field(default=0.1, ge=0, le=10)
    solver: str = "highs"
    step_time_limit_s: float = Field(default=1.0, gt=0, le=3600)
    base: Literal["greedy", "position", "none"] = "greedy"
    position_feature: str | None = "load_rank"
    position_width_feature: str = "load_share"
    residual_gain: float = Field(default=0.0, ge=0, le=100)
    target: Literal["search", "greedy_search", "zero"] = "search"
    search_seconds: float = Field(default=2.0, gt=0, le=3600)
    validation_fraction: float = Field(default=0.25, ge=0, lt=1)
    validate_every: int = Field(default=5, ge=1, le=100_000)
    init_checkpoint: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, value: str) -> str:
        from designsvc.core.plugins import SOLVERS

        names = SOLVERS.names()
        if value not in names:
            raise ValueError(f"unknown solver {value!r}; registered: {', '.join(sorted(names))}")
        return value


def parse_options(options: Mapping[str, Any]) -> TrainerOptions:
    """Validate options; ValueError ``option 'name': message`` on the first bad one."""
    return _parse(TrainerOptions, options)


class SurCoPriorTrainer(Trainer):
    """Trains the ``surco-prior`` network (see the module docstring)."""

    name: ClassVar[str] = "surco-prior"
    problem: ClassVar[str] = "table-sharding@1"
    title: ClassVar[str] = "SurCo-prior: end-to-end training of the cost network through the solver"
    queue: ClassVar[str] = "gpu"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        parse_options(options)

    def train(
        self,
        problems: Sequence[Problem[Any]],
        *,
        options: Mapping[str, Any],
        seed: int,
        time_limit_s: float,
        on_event: Callable[[JsonDict], None],
        cancel_token: CancelToken,
    ) -> TrainingOutput:
        import torch

        from designsvc.core.plugins import SOLVERS
        from surrogates.surco import checkpoint
        from surrogates.surco.prior import PriorConfig, SurCoPrior, prior_inputs
        from surrogates.surco.zero import (
            NoPlanError,
            SolverOracle,
            ZeroConfig,
            estimate_gradient,
            run_zero,
            start_costs,
        )

        opts = parse_options(options)
        t_start = time.perf_counter()
        device = checkpoint.select_device(opts.device)
        if device.type == "cpu":
            torch.set_num_threads(1)  # a small network on small inputs: more threads only add overhead
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        names = [getattr(p.instance, "name", "") or f"instance-{k}" for k, p in enumerate(problems)]
        interfaces = [p.surrogate_interface() for p in problems]
        solver = SOLVERS.load(opts.solver)()
        oracles = [
            SolverOracle(p, i, solver, time_limit_s=opts.step_time_limit_s, seed=seed)
            for p, i in zip(problems, interfaces, strict=True)
        ]
        balanced = [_balanced_objective(i) for i in interfaces]
        if opts.init_checkpoint is not None:
            prior, parent_meta, parent = checkpoint.load(checkpoint.resolve_path(opts.init_checkpoint), device)
        else:
            first = interfaces[0]
            position = opts.position_feature if opts.base == "position" else None
            config = PriorConfig(
                feature_names=tuple(first.feature_names),
                column_feature_names=tuple(first.column_feature_names),
                context_names=tuple(first.context_names),
                hidden=opts.hidden,
                harmonics=opts.harmonics,
                position_feature=position,
                position_width_feature=opts.position_width_feature if position else None,
                residual_gain=opts.residual_gain,
                greedy_base=opts.base == "greedy",
            )
            prior, parent_meta, parent = SurCoPrior(config).to(device), {}, None
        for name, interface in zip(names, interfaces, strict=True):
            checkpoint.check_features(prior, interface, f"instance {name}: the network")
        inputs = [prior_inputs(prior.config, i, device) for i in interfaces]
        zero = ZeroConfig(
            method=opts.method,
            samples=opts.samples,
            sigma=opts.sigma,
            blackbox_lambda=opts.blackbox_lambda,
            temperature=opts.temperature,
        )
        order_all = rng.permutation(len(problems)).tolist()
        held = min(round(opts.validation_fraction * len(problems)), len(problems) - 1)
        validation = sorted(order_all[:held])
        training = sorted(order_all[held:])

        def prior_ratio(k: int) -> float | None:
            with torch.no_grad():
                c = prior(*inputs[k]).double().cpu().numpy()
            answer = oracles[k](c)
            return None if answer is None else answer.objective / balanced[k]

        def evaluate() -> list[JsonDict]:
            prior.eval()
            rows: list[JsonDict] = []
            for k, interface in enumerate(interfaces):
                start = oracles[k](start_costs(interface.initial_costs, np.random.default_rng(seed), 0.1))
                rows.append(
                    {
                        "instance": names[k],
                        "split": "validation" if k in validation else "training",
                        "balanced_ms": balanced[k],
                        "prior_ratio": prior_ratio(k),
                        "start_ratio": None if start is None else start.objective / balanced[k],
                    }
                )
            return rows

        def validate() -> float | None:
            prior.eval()
            values = [prior_ratio(k) for k in validation]
            kept = [v for v in values if v is not None]
            return float(np.mean(kept)) if kept else None

        t = time.perf_counter()
        before = evaluate()
        eval_s = time.perf_counter() - t
        on_event({"type": "stage", "stage": "evaluated", "when": "before", "seconds": eval_s})
        deadline = t_start + time_limit_s - 1.5 * eval_s - 1.0
        targets: dict[int, Any] = {}
        target_rows: list[JsonDict] = []
        if opts.objective == "imitation":
            for n, k in enumerate(training):
                if cancel_token.cancelled or time.perf_counter() > deadline:
                    break
                zero_config = dataclasses.replace(zero, steps=opts.zero_steps, time_budget_s=max(1.0, time_limit_s))
                zero_rng = np.random.default_rng([seed, k])
                c_start = start_costs(interfaces[k].initial_costs, zero_rng, 0.1)
                try:
                    result = run_zero(c_start, oracles[k], zero_config, rng=zero_rng)
                except NoPlanError as exc:
                    raise ValueError(f"instance {names[k]}: {exc}") from exc
                best = result.best if result.best is not None else result.start
                assert best is not None
                target_x, target_f, source = best.x, best.objective, "zero"
                if opts.target != "zero":
                    target_x, target_f, source = _search_target(
                        problems[k], interfaces[k], best, opts.search_seconds, with_zero=opts.target == "search"
                    )
                targets[k] = torch.as_tensor(target_x, dtype=torch.float32, device=device)
                target_rows.append(
                    {
                        "instance": names[k],
                        "target_ratio": target_f / balanced[k],
                        "zero_ratio": best.objective / balanced[k],
                        "target_source": source,
                    }
                )
                on_event(
                    {
                        "type": "progress",
                        "stage": "targets",
                        "instance": n + 1,
                        "instances": len(training),
                        "target_ratio": target_f / balanced[k],
                        "elapsed_s": time.perf_counter() - t_start,
                    }
                )
        groups = [_column_groups(i.column_features) for i in interfaces]
        trainable = [k for k in training if opts.objective == "end_to_end" or k in targets]
        optimizer = torch.optim.Adam(prior.parameters(), lr=opts.learning_rate)
        best_validation = validate()
        best_epoch, best_state = 0, copy.deepcopy(prior.state_dict())
        curve: list[JsonDict] = []
        stopped = False
        for epoch in range(1, opts.epochs + 1):
            t_epoch = time.perf_counter()
            prior.train()
            ratios: list[float] = []
            losses: list[float] = []
            order = rng.permutation(trainable).tolist() if trainable else []
            for lo in range(0, len(order), opts.batch_size):
                if cancel_token.cancelled or time.perf_counter() > deadline:
                    stopped = True
                    break
                batch = order[lo : lo + opts.batch_size]
                optimizer.zero_grad()
                for k in batch:
                    c = prior(*inputs[k])
                    if opts.objective == "imitation":
                        loss = _imitation_loss(c, targets[k], groups[k], opts.imitation_temperature) / len(batch)
                        loss.backward()
                        losses.append(float(loss.item()) * len(batch))
                        continue
                    estimate = estimate_gradient(
                        c.detach().double().cpu().numpy(), oracles[k], interfaces[k], zero, rng
                    )
                    grad = estimate.grad / (balanced[k] * len(batch))
                    c.backward(torch.as_tensor(grad, dtype=c.dtype, device=device))
                    ratios.extend(a.objective / balanced[k] for a in estimate.candidates)
                torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
                optimizer.step()
            if not (ratios or losses):
                break
            score = validate() if validation and (epoch % opts.validate_every == 0 or epoch == opts.epochs) else None
            if score is not None and (best_validation is None or score < best_validation):
                best_validation, best_epoch, best_state = score, epoch, copy.deepcopy(prior.state_dict())
            row = {
                "epoch": epoch,
                "mean_ratio": float(np.mean(ratios)) if ratios else None,
                "best_ratio": float(np.min(ratios)) if ratios else None,
                "imitation_loss": float(np.mean(losses)) if losses else None,
                "validation_ratio": score,
                "solves": sum(o.solves for o in oracles),
                "seconds": time.perf_counter() - t_epoch,
            }
            curve.append(row)
            on_event({"type": "progress", "epochs": opts.epochs, "elapsed_s": time.perf_counter() - t_start, **row})
            if stopped:
                break
        if validation:
            prior.load_state_dict(best_state)
        prior.eval()
        after = evaluate()
        metrics: JsonDict = {
            "epochs": len(curve),
            "kept_epoch": best_epoch if validation else len(curve),
            "validation_ratio": best_validation,
            "validation_instances": [names[k] for k in validation],
            "solves": sum(o.solves for o in oracles),
            "solve_s": sum(o.solve_s for o in oracles),
            "device": str(device),
            "instances": names,
            "options": opts.model_dump(mode="json"),
            "prior": prior.config.to_json(),
            "parent_checkpoint_sha256": parent,
            "curve": curve,
            "before": before,
            "after": after,
            "mean_prior_ratio_before": _mean(before, "prior_ratio"),
            "mean_prior_ratio_after": _mean(after, "prior_ratio"),
            "mean_start_ratio": _mean(after, "start_ratio"),
            "targets": target_rows,
            "mean_target_ratio": _mean(target_rows, "target_ratio"),
            "train_s": time.perf_counter() - t_start,
        }
        meta = {
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "seed": seed,
            "torch": str(torch.__version__),
            "instances": names,
            "validation_instances": [names[k] for k in validation],
            "epochs": len(curve),
            "kept_epoch": metrics["kept_epoch"],
            "options": opts.model_dump(mode="json"),
            "parent_checkpoint_sha256": parent,
            "parent_meta": parent_meta or None,
        }
        data = checkpoint.dump(prior, meta)
        artifacts = [curve_png(curve)] if curve else []
        return TrainingOutput(
            checkpoint=Artifact("surco-prior.pt", "application/octet-stream", data),
            fingerprint=checkpoint.fingerprint(data),
            metrics=metrics,
            artifacts=artifacts,
        )


def _search_target(
    problem: Any,
    interface: Any,
    zero_best: Any,
    seconds: float,
    *,
    with_zero: bool = True,
) -> tuple[Any, float, str]:
    """The imitation target of ``target: search``: the local search on the true objective
    (:func:`surrogates.surco.targets.local_search`, ``seconds`` each) from SurCo-zero's
    best plan and from the greedy plan; the best feasible of the four plans by the true
    evaluator: ``(x, objective, source)``."""
    from surrogates.surco.targets import PlanCosts, greedy_plan, local_search, plan_matrix

    pc = PlanCosts(interface)
    columns = interface.shape[1]
    best_x, best_f, source = None, np.inf, ""
    starts = {"greedy": greedy_plan(interface, pc)}
    if with_zero:
        best_x, best_f, source = zero_best.x, float(zero_best.objective), "zero"
        starts["zero"] = np.asarray(zero_best.x).argmax(axis=1)
    for name, start in starts.items():
        for label, assign in (
            (name, start),
            (f"{name}+search", local_search(interface, start, max_seconds=seconds, plan_costs=pc)),
        ):
            x = plan_matrix(assign, columns)
            evaluation = problem.evaluate(interface.design(x))
            if evaluation.feasible and evaluation.objective < best_f * (1 - 1e-12):
                best_x, best_f, source = x, float(evaluation.objective), label
    if best_x is None:  # no feasible plan from the greedy start: SurCo-zero's after all
        best_x, best_f, source = zero_best.x, float(zero_best.objective), "zero"
    return best_x, best_f, source


def _column_groups(column_features: Any) -> Any:
    """``(C, C)`` bool: which columns are interchangeable (equal features)."""
    return np.all(np.isclose(column_features[:, None, :], column_features[None, :, :]), axis=2)


def _imitation_loss(c: Any, target: Any, interchangeable: Any, temperature: float) -> Any:
    """Cross-entropy of ``softmax(-c / temperature)`` per row against the 0/1 plan
    ``target``, its columns first matched to the network's (among interchangeable columns
    only) by the assignment that fits the network best (Hungarian method)."""
    import torch
    from scipy.optimize import linear_sum_assignment

    log_probs = torch.log_softmax(-c / temperature, dim=1)
    fit = (log_probs.detach().T @ target).cpu().numpy()  # fit[k, j]: network column k takes target column j
    cost = np.where(interchangeable, -fit, 1e9)
    rows, cols = linear_sum_assignment(cost)
    aligned = target[:, torch.as_tensor(cols[np.argsort(rows)], device=target.device)]
    return -(aligned * log_probs).sum() / c.shape[0]


def _balanced_objective(interface: Any) -> float:
    """The relaxed objective of the even fractional plan (each row spread evenly)."""
    rows, cols = interface.shape
    value, _ = interface.relaxed_objective(np.full((rows, cols), 1.0 / cols))
    return float(value) if value > 0 else 1.0


def _mean(rows: Sequence[JsonDict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return float(np.mean(values)) if values else None


def curve_png(curve: Sequence[JsonDict]) -> Artifact:
    """A PNG of the learning curve: the imitation loss per epoch, or (end to end) the mean
    and best ratio ``f / f_balanced`` of the perturbed answers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [row["epoch"] for row in curve]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    if all(row.get("imitation_loss") is not None for row in curve):
        ax.plot(x, [row["imitation_loss"] for row in curve], marker=".", label="imitation loss")
        ax.set_ylabel("cross-entropy per table")
    else:
        nan = float("nan")
        for key, label in (("mean_ratio", "mean of the perturbed answers"), ("best_ratio", "best")):
            ax.plot(x, [nan if row.get(key) is None else row[key] for row in curve], marker=".", label=label)
        ax.set_ylabel("objective / balanced objective")
    ax.set_xlabel("epoch")
    ax.set_title("surco-prior training")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return Artifact("surco-prior-training.png", "image/png", buffer.getvalue())
