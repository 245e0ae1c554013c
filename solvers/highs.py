"""HiGHS through highspy.

highspy rather than Pyomo's HiGHS interface: Pyomo's new interface has no warm start, no
progress callbacks and no cancel hook, which the service needs; the model is passed to HiGHS
as column-wise arrays from the shared :class:`~designsvc.core.linear.LinearForm`.

Threads: HiGHS runs one global task scheduler per process, sized on first use; a later solve
asking for another thread count resets it (``resetGlobalScheduler``), which is safe here
because the service runs one solve per worker process.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import threading
from functools import cache
from typing import Any, ClassVar

import numpy as np

from designsvc.core.cancel import CancelToken
from designsvc.core.linear import FloatArray, LinearForm
from designsvc.core.solver import BackendResult, Capabilities, ProgressReporter, Solver
from designsvc.core.types import SolutionStatus, SolverConfig, Termination

__all__ = ["HighsSolver"]

_scheduler_lock = threading.Lock()
_scheduler_threads: int | None = None


@cache
def _highs_version() -> str:
    """The version, from a first ``Highs`` object made with file descriptor 1 pointed at
    /dev/null: HiGHS prints a copyright banner on stdout when a process makes its first one,
    which would land in the middle of a server's or a worker's output."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


class HighsSolver(Solver):
    """HiGHS 1.x: LP (dual simplex / IPM) and MILP (branch and cut)."""

    name: ClassVar[str] = "highs"
    backend_module: ClassVar[str] = "highspy"
    capabilities: ClassVar[Capabilities] = Capabilities(
        continuous=True,
        integer=True,
        unbounded_variables=True,
        warm_start=True,
        cancel=True,
        progress=True,
    )

    @classmethod
    def version(cls) -> str:
        return _highs_version()

    def validate_options(self, options: dict[str, Any]) -> None:  # type: ignore[override]
        import highspy

        _highs_version()  # the process's first Highs object, made quietly
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        for key, value in options.items():
            status, kind = h.getOptionType(key)
            if status != highspy.HighsStatus.kOk:
                raise ValueError(f"unknown option {key!r} for solver highs")
            expected = {
                highspy.HighsOptionType.kBool: (bool,),
                highspy.HighsOptionType.kInt: (int,),
                highspy.HighsOptionType.kDouble: (int, float),
                highspy.HighsOptionType.kString: (str,),
            }[kind]
            if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
                raise ValueError(f"option {key!r} of solver highs takes a {expected[0].__name__}, got {value!r}")

    def _solve(
        self,
        form: LinearForm,
        config: SolverConfig,
        *,
        warm_start: FloatArray | None,
        on_progress: ProgressReporter | None,
        cancel_token: CancelToken,
    ) -> BackendResult:
        import highspy

        _highs_version()  # the process's first Highs object, made quietly
        _ensure_threads(config.threads)
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(config.time_limit_s))
        h.setOptionValue("mip_rel_gap", float(config.rel_gap))
        h.setOptionValue("random_seed", int(config.seed) % 2_147_483_647)
        h.setOptionValue("threads", int(config.threads))
        for key, value in config.options.items():
            if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
                raise ValueError(f"option {key!r}={value!r} rejected by highs")
        h.HandleUserInterrupt = True

        lp = highspy.HighsLp()
        lp.num_col_ = form.num_cols
        lp.num_row_ = form.num_rows
        lp.col_cost_ = form.c
        lp.offset_ = form.offset
        lp.col_lower_ = form.col_lower
        lp.col_upper_ = form.col_upper
        lp.row_lower_ = form.row_lower
        lp.row_upper_ = form.row_upper
        csc = form.A.tocsc()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = form.num_cols
        lp.a_matrix_.num_row_ = form.num_rows
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data
        if form.is_mip:
            kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
            lp.integrality_ = [kinds[int(flag)] for flag in form.integer]
        if h.passModel(lp) == highspy.HighsStatus.kError:
            return BackendResult(Termination.ERROR, SolutionStatus.NONE, message="HiGHS rejected the model")

        if warm_start is not None:
            given = np.flatnonzero(~np.isnan(warm_start)).astype(np.int32)
            if len(given):
                h.setSolution(len(given), given, warm_start[given].astype(np.float64))

        if on_progress is not None and form.is_mip:

            def improving(event: Any) -> None:
                out = event.data_out
                on_progress.report(out.objective_function_value, out.mip_dual_bound)

            h.cbMipImprovingSolution.subscribe(improving)

        unregister = cancel_token.on_cancel(h.cancelSolve)
        try:
            h.run()
        finally:
            unregister()
        return _result(h, form, cancel_token)


def _ensure_threads(threads: int) -> None:
    global _scheduler_threads
    import highspy

    with _scheduler_lock:
        if _scheduler_threads is not None and _scheduler_threads != threads:
            highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads = threads


def _result(h: Any, form: LinearForm, cancel_token: CancelToken) -> BackendResult:
    import highspy

    status = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    S = highspy.HighsModelStatus
    termination = {
        S.kOptimal: Termination.OPTIMAL,
        S.kInfeasible: Termination.INFEASIBLE,
        S.kUnbounded: Termination.UNBOUNDED,
        S.kUnboundedOrInfeasible: Termination.INFEASIBLE_OR_UNBOUNDED,
        S.kTimeLimit: Termination.TIME_LIMIT,
        S.kInterrupt: Termination.INTERRUPTED,
        getattr(S, "kHighsInterrupt", S.kInterrupt): Termination.INTERRUPTED,
        S.kIterationLimit: Termination.OTHER_LIMIT,
        S.kSolutionLimit: Termination.OTHER_LIMIT,
        S.kMemoryLimit: Termination.OTHER_LIMIT,
        S.kObjectiveBound: Termination.OTHER_LIMIT,
        S.kObjectiveTarget: Termination.OTHER_LIMIT,
        S.kModelEmpty: Termination.OPTIMAL,
    }.get(status, Termination.ERROR)
    if termination is Termination.TIME_LIMIT and cancel_token.cancelled:
        termination = Termination.INTERRUPTED
    if status == S.kModelEmpty:
        # No columns: the objective is the constant; every row must hold at zero activity.
        feasible = bool(np.all(form.row_lower <= 0) and np.all(form.row_upper >= 0))
        if not feasible:
            return BackendResult(Termination.INFEASIBLE, SolutionStatus.NONE)
        return BackendResult(Termination.OPTIMAL, SolutionStatus.OPTIMAL, form.offset, form.offset, np.zeros(0))
    if termination is Termination.UNBOUNDED:
        has_primal = False
    message = h.modelStatusToString(status)
    if not has_primal:
        bound = _bound(info, form) if termination is not Termination.INFEASIBLE else None
        return BackendResult(termination, SolutionStatus.NONE, None, bound, None, message)
    values = np.asarray(h.getSolution().col_value, dtype=np.float64)
    objective = float(info.objective_function_value)
    solution_status = SolutionStatus.OPTIMAL if termination is Termination.OPTIMAL else SolutionStatus.FEASIBLE
    bound = objective if (termination is Termination.OPTIMAL and not form.is_mip) else _bound(info, form)
    return BackendResult(termination, solution_status, objective, bound, values, message)


def _bound(info: Any, form: LinearForm) -> float | None:
    if not form.is_mip:
        return None
    bound = float(info.mip_dual_bound)
    return bound if math.isfinite(bound) and abs(bound) < 1e30 else None
