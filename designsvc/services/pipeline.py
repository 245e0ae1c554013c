"""``run_job``: validate -> build -> (propose -> solve -> evaluate)* -> result document.

The one code path behind the CLI, the embedded executor and Celery workers. It returns the
result document of DESIGN.md section 4 (JSON-ready) and the artifacts' bytes; what to do
with them (print, store, serve) is the caller's. Events go to ``on_event`` as JSON dicts:
``{"type": "stage", "stage": ...}`` and ``{"type": "progress", "elapsed_s", "incumbent",
"bound", "gap"}``.

``design_source`` in the result says where the design came from: ``solver`` (always, except
when a round's proposal carried a warm-start design that the problem's true evaluator finds
feasible and either the solver ended without any design, or the problem's objective is not
linear (the solver optimized a surrogate of it) and the warm start is strictly better by the
true evaluator than the solver's answer: then that design is the round's, ``design_source``
is ``proposal``, the solution status ``feasible`` and the objective the evaluator's; bound
and gap stay the solver's, about its own objective).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from designsvc import __version__
from designsvc.agent.turn import ResolvedAgentTurn, run_agent_turn
from designsvc.core.cancel import CancelToken
from designsvc.core.errors import ModelNotSupportedError, SpecError
from designsvc.core.ids import new_id
from designsvc.core.proposer import Feedback, Proposal, Proposer
from designsvc.core.types import (
    Artifact,
    Evaluation,
    JsonDict,
    Progress,
    SolutionStatus,
    SolveResult,
    Termination,
)
from designsvc.services.validation import AnyJob, ResolvedJob, ResolvedTraining, resolve_spec

__all__ = ["EventCallback", "JobOutput", "relative_improvement", "run_any", "run_job", "run_resolved", "run_training"]

EventCallback = Callable[[JsonDict], None]


@dataclass
class JobOutput:
    """The result document and the artifacts it names."""

    result: JsonDict
    artifacts: list[Artifact] = field(default_factory=list)


@dataclass
class _Round:
    label: str
    solve: SolveResult
    design: JsonDict | None
    evaluation: Evaluation | None
    source: str = "solver"


def run_job(
    spec: Any,
    *,
    job_id: str | None = None,
    on_event: EventCallback | None = None,
    cancel_token: CancelToken | None = None,
) -> JobOutput:
    """Run one job from a spec document (a dict parsed from JSON/YAML).

    Raises :class:`SpecError` for an invalid spec (nothing has run yet), and for a model the
    chosen solver cannot take (pointer ``/solver/name``). Everything after
    validation ends in a result document: a solver error gives ``status: failed`` with
    ``error``; an infeasible instance is a ``succeeded`` job whose outcome says so.
    """
    return run_resolved(resolve_spec(spec), job_id=job_id, on_event=on_event, cancel_token=cancel_token)


def run_resolved(
    job: ResolvedJob,
    *,
    job_id: str | None = None,
    on_event: EventCallback | None = None,
    cancel_token: CancelToken | None = None,
) -> JobOutput:
    """:func:`run_job` for an already validated spec."""
    emit = on_event or (lambda event: None)
    token = cancel_token or CancelToken()
    spec = job.spec
    started_at = datetime.now(UTC)
    t_start = time.perf_counter()
    deadline = t_start + spec.limits.time_limit_s
    timings = {"build_s": 0.0, "propose_s": 0.0, "solve_s": 0.0, "evaluate_s": 0.0}
    result: JsonDict = {
        "id": job_id or new_id(),
        "problem": job.problem_id,
        "spec": spec.model_dump(mode="json", exclude_none=True),
    }

    def progress(p: Progress) -> None:
        emit({"type": "progress", "elapsed_s": p.elapsed_s, "incumbent": p.incumbent, "bound": p.bound, "gap": p.gap})

    proposer: Proposer | None = None
    rounds: list[_Round] = []
    try:
        if job.proposer_cls is not None:
            assert spec.proposer is not None
            t = time.perf_counter()
            proposer = job.proposer_cls(job.problem, seed=spec.limits.seed, options=spec.proposer.options)
            proposer.deadline = deadline
            timings["propose_s"] += time.perf_counter() - t
        while True:
            proposal: Proposal | None = Proposal(label="solve")
            if proposer is not None:
                t = time.perf_counter()
                emit({"type": "stage", "stage": "propose", "round": len(rounds)})
                proposal = proposer.ask()
                timings["propose_s"] += time.perf_counter() - t
            if proposal is None:
                break
            remaining = deadline - time.perf_counter()
            if rounds and (remaining <= 0 or token.cancelled):
                break
            emit({"type": "stage", "stage": "build", "round": len(rounds)})
            t = time.perf_counter()
            model = job.problem.build_model(fixed=proposal.fixed)
            warm = job.problem.encode_design(model, proposal.warm_start) if proposal.warm_start else None
            timings["build_s"] += time.perf_counter() - t
            emit({"type": "stage", "stage": "solve", "round": len(rounds)})
            t = time.perf_counter()
            solved = job.solver.solve(
                model,
                spec.limits.solver_config(spec.solver.options, time_limit_s=max(remaining, 1e-3)),
                warm_start=warm,
                on_progress=progress,
                cancel_token=token,
            )
            timings["solve_s"] += time.perf_counter() - t
            design = evaluation = None
            source = "solver"
            if solved.has_solution:
                emit({"type": "stage", "stage": "evaluate", "round": len(rounds)})
                t = time.perf_counter()
                design = job.problem.extract_design(model)
                evaluation = job.problem.evaluate(design)
                if proposal.warm_start is not None and not job.problem.objective_is_linear:
                    # The solver optimized a surrogate objective: the warm start it was
                    # given may still be the better design by the true evaluator.
                    start_eval = job.problem.evaluate(proposal.warm_start)
                    if start_eval.feasible and (not evaluation.feasible or start_eval.objective < evaluation.objective):
                        design, evaluation, source = proposal.warm_start, start_eval, "proposal"
                timings["evaluate_s"] += time.perf_counter() - t
            elif proposal.warm_start is not None:
                # The solver found nothing in time (a model too big for the budget): the
                # proposal's own design stands if the true evaluator finds it feasible.
                emit({"type": "stage", "stage": "evaluate", "round": len(rounds)})
                t = time.perf_counter()
                start_eval = job.problem.evaluate(proposal.warm_start)
                timings["evaluate_s"] += time.perf_counter() - t
                if start_eval.feasible:
                    design, evaluation, source = proposal.warm_start, start_eval, "proposal"
            rounds.append(_Round(proposal.label, solved, design, evaluation, source))
            if proposer is None:
                break
            t = time.perf_counter()
            proposer.tell(proposal, Feedback(solved, design, evaluation))
            timings["propose_s"] += time.perf_counter() - t
            if token.cancelled or solved.termination is Termination.ERROR:
                break
    except SpecError:
        raise
    except ModelNotSupportedError as exc:
        raise SpecError.at("/solver/name", f"solver {job.solver.name} cannot take this model: {exc}") from exc
    except Exception as exc:  # a backend failure becomes a failed job, not a crash
        result.update(_failed(exc))
        result["timings"] = {**timings, "total_s": time.perf_counter() - t_start}
        result["provenance"] = _provenance(job, started_at)
        emit({"type": "stage", "stage": "failed", "error": result["error"]})
        return JobOutput(result)

    best = _best(rounds)
    result.update(_outcome(best, token))
    result["proposer"] = proposer.stats() if proposer is not None else None
    artifacts: list[Artifact] = []
    if spec.compare_baselines:
        emit({"type": "stage", "stage": "baselines"})
        t = time.perf_counter()
        result["comparison"] = _compare(job, best.evaluation if best else None)
        timings["baselines_s"] = time.perf_counter() - t
    if spec.render and best is not None and best.design is not None:
        emit({"type": "stage", "stage": "render"})
        t = time.perf_counter()
        artifacts = job.problem.render(best.design)
        timings["render_s"] = time.perf_counter() - t
    result["artifacts"] = [_describe(a) for a in artifacts]
    result["timings"] = {**timings, "total_s": time.perf_counter() - t_start}
    result["provenance"] = _provenance(job, started_at)
    if proposer is not None and proposer.fingerprint() is not None:
        result["provenance"]["checkpoint_sha256"] = proposer.fingerprint()
    emit({"type": "stage", "stage": "done", "status": result["status"]})
    return JobOutput(result, artifacts)


def run_any(
    job: AnyJob,
    *,
    job_id: str | None = None,
    on_event: EventCallback | None = None,
    cancel_token: CancelToken | None = None,
) -> JobOutput:
    """:func:`run_training`, an agent turn or :func:`run_resolved`, by the kind of job."""
    if isinstance(job, ResolvedAgentTurn):
        return JobOutput(run_agent_turn(job, job_id=job_id, on_event=on_event, cancel_token=cancel_token))
    if isinstance(job, ResolvedTraining):
        return run_training(job, job_id=job_id, on_event=on_event, cancel_token=cancel_token)
    return run_resolved(job, job_id=job_id, on_event=on_event, cancel_token=cancel_token)


def run_training(
    job: ResolvedTraining,
    *,
    job_id: str | None = None,
    on_event: EventCallback | None = None,
    cancel_token: CancelToken | None = None,
) -> JobOutput:
    """Run a validated training job: the trainer's checkpoint becomes an artifact and the
    result document says ``kind: "training"``, with ``checkpoint`` {artifact, sha256},
    ``metrics``, ``timings`` and ``provenance``. A trainer failure is a failed job; a cancel
    keeps the model trained so far (status ``canceled``)."""
    emit = on_event or (lambda event: None)
    token = cancel_token or CancelToken()
    spec = job.spec
    started_at = datetime.now(UTC)
    t_start = time.perf_counter()
    result: JsonDict = {
        "id": job_id or new_id(),
        "kind": "training",
        "problem": job.problem_id,
        "spec": spec.model_dump(mode="json", exclude_none=True),
        "trainer": job.trainer_cls.name,
        "error": None,
    }
    provenance: JsonDict = {
        "designsvc": __version__,
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in ("torch", "numpy", "gymnasium")},
        "seed": spec.limits.seed,
        "spec_sha256": hashlib.sha256(json.dumps(result["spec"], sort_keys=True).encode()).hexdigest(),
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
    }
    emit({"type": "stage", "stage": "train"})
    try:
        trained = job.trainer_cls().train(
            job.problems,
            options=spec.train.options,
            seed=spec.limits.seed,
            time_limit_s=spec.limits.time_limit_s,
            on_event=emit,
            cancel_token=token,
        )
    except Exception as exc:
        result.update({"status": "failed", "error": {"type": type(exc).__name__, "message": str(exc)}})
        result.update({"artifacts": [], "timings": {"total_s": time.perf_counter() - t_start}})
        result["provenance"] = provenance
        emit({"type": "stage", "stage": "failed", "error": result["error"]})
        return JobOutput(result)
    artifacts = [trained.checkpoint, *trained.artifacts]
    result["status"] = "canceled" if token.cancelled else "succeeded"
    result["checkpoint"] = {"artifact": trained.checkpoint.name, "sha256": trained.fingerprint}
    result["metrics"] = trained.metrics
    result["artifacts"] = [_describe(a) for a in artifacts]
    result["timings"] = {"train_s": time.perf_counter() - t_start, "total_s": time.perf_counter() - t_start}
    result["provenance"] = {**provenance, "checkpoint_sha256": trained.fingerprint}
    emit({"type": "stage", "stage": "done", "status": result["status"]})
    return JobOutput(result, artifacts)


def _best(rounds: list[_Round]) -> _Round | None:
    """The round with the best feasible evaluated design; else the last round."""
    with_design = [r for r in rounds if r.evaluation is not None]
    if with_design:
        return min(with_design, key=lambda r: (not r.evaluation.feasible, r.evaluation.objective))  # type: ignore[union-attr]
    return rounds[-1] if rounds else None


def _outcome(best: _Round | None, token: CancelToken) -> JsonDict:
    if best is None:
        return {
            "status": "canceled" if token.cancelled else "failed",
            "outcome": {"termination": Termination.INTERRUPTED.value, "solution_status": SolutionStatus.NONE.value},
            "objective": None,
            "bound": None,
            "gap": None,
            "design": None,
            "evaluation": None,
            "solver": None,
            "error": None if token.cancelled else {"type": "NoRound", "message": "the proposer proposed nothing"},
        }
    solve = best.solve
    if solve.termination is Termination.ERROR:
        status = "failed"
    elif token.cancelled:
        status = "canceled"
    else:
        status = "succeeded"
    summary = solve.to_json()
    solution_status = solve.solution_status.value
    objective = summary["objective"]
    if best.source == "proposal" and best.evaluation is not None:
        # The proposal's design (the solver had none, or a worse one by the true evaluator).
        solution_status = SolutionStatus.FEASIBLE.value
        objective = best.evaluation.objective
    return {
        "status": status,
        "outcome": {"termination": solve.termination.value, "solution_status": solution_status},
        "design_source": best.source,
        "objective": objective,
        "bound": summary["bound"],
        "gap": summary["gap"],
        "design": best.design,
        "evaluation": best.evaluation.to_json() if best.evaluation else None,
        "solver": {
            k: summary[k] for k in ("solver", "solver_version", "wall_time_s", "translate_s", "message", "notes")
        },
        "error": {"type": "SolverError", "message": solve.message} if status == "failed" else None,
    }


def relative_improvement(baseline: float, ours: float, *, zero: float = 1e-9) -> float | None:
    """``(baseline - ours) / |baseline|`` (positive: ours is better); None when the
    baseline's objective is 0 (within ``zero``: a loss the baseline already drives to 0)
    and ours differs from it, where no relative figure exists (the absolute difference
    tells); 0 when both are 0."""
    difference = baseline - ours
    if abs(baseline) > zero:
        return difference / abs(baseline)
    return 0.0 if abs(difference) <= zero else None


def _compare(job: ResolvedJob, ours: Evaluation | None) -> list[JsonDict]:
    rows: list[JsonDict] = []
    for name, baseline in sorted(job.problem.baselines().items()):
        t = time.perf_counter()
        design = baseline(job.spec.limits.seed)
        elapsed = time.perf_counter() - t
        evaluation = job.problem.evaluate(design)
        improvement = difference = None
        if ours is not None and ours.feasible and evaluation.feasible:
            difference = evaluation.objective - ours.objective
            improvement = relative_improvement(evaluation.objective, ours.objective)
        rows.append(
            {
                "baseline": name,
                "objective": evaluation.objective if math.isfinite(evaluation.objective) else None,
                "feasible": evaluation.feasible,
                "violations": len(evaluation.violations),
                "improvement": improvement,
                "difference": difference,
                "time_s": elapsed,
            }
        )
    return rows


def _failed(exc: Exception) -> JsonDict:
    return {
        "status": "failed",
        "outcome": {"termination": Termination.ERROR.value, "solution_status": SolutionStatus.NONE.value},
        "objective": None,
        "bound": None,
        "gap": None,
        "design": None,
        "evaluation": None,
        "solver": None,
        "proposer": None,
        "artifacts": [],
        "error": {"type": type(exc).__name__, "message": str(exc)},
    }


def _describe(artifact: Artifact) -> JsonDict:
    return {
        "name": artifact.name,
        "media_type": artifact.media_type,
        "size_bytes": len(artifact.data),
        "sha256": hashlib.sha256(artifact.data).hexdigest(),
    }


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _provenance(job: ResolvedJob, started_at: datetime) -> JsonDict:
    spec_json = json.dumps(job.spec.model_dump(mode="json", exclude_none=True), sort_keys=True)
    return {
        "designsvc": __version__,
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in ("pyomo", "pydantic", "numpy")},
        "solver": job.solver.name,
        "solver_version": job.solver.version(),
        "seed": job.spec.limits.seed,
        "spec_sha256": hashlib.sha256(spec_json.encode()).hexdigest(),
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
    }
