"""The solver plug-in interface.

A solver finalizes designs: it takes a Pyomo model and limits and returns a
:class:`~designsvc.core.types.SolveResult`. :meth:`Solver.solve` does everything that is the
same for every backend once (availability, limits, compiling to :class:`LinearForm`,
capability checks, timing, cancellation before start, gap, loading the solution into the
model, error mapping); a backend fills the :meth:`Solver._solve` hook. Availability is checked
without importing the backend at registry time (cvxpy's and Pyomo's rule).
"""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyomo.environ as pyo

from designsvc.core.cancel import CancelToken
from designsvc.core.errors import ModelNotSupportedError, SolverUnavailableError
from designsvc.core.linear import FloatArray, LinearForm, compile_linear, load_values
from designsvc.core.types import (
    Progress,
    SolutionStatus,
    SolverConfig,
    SolveResult,
    Termination,
)

__all__ = [
    "Availability",
    "BackendResult",
    "Capabilities",
    "ProgressCallback",
    "ProgressReporter",
    "Solver",
]

ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can take and do. ``continuous``: continuous variables; ``integer``:
    integer variables; ``unbounded_variables``: variables without finite bounds;
    ``fractional_coefficients``: non-integral coefficients as they are (CP-SAT scales them);
    ``warm_start``, ``cancel``, ``progress``: the features of the same name;
    ``max_threads``: threads it can use (None: no limit)."""

    continuous: bool
    integer: bool
    unbounded_variables: bool
    warm_start: bool
    cancel: bool
    progress: bool
    max_threads: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "continuous": self.continuous,
            "integer": self.integer,
            "unbounded_variables": self.unbounded_variables,
            "warm_start": self.warm_start,
            "cancel": self.cancel,
            "progress": self.progress,
            "max_threads": self.max_threads,
        }


@dataclass(frozen=True)
class Availability:
    """Whether the backend can run here, and why not when it cannot."""

    available: bool
    reason: str = ""


@dataclass(frozen=True)
class BackendResult:
    """What a backend's ``_solve`` hook returns: objective and bound in the *minimized*
    form's units (``c @ x + offset`` with the offset included), ``values`` by column."""

    termination: Termination
    solution_status: SolutionStatus
    objective: float | None = None
    bound: float | None = None
    values: FloatArray | None = None
    message: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


class Solver(ABC):
    """Base of solver plug-ins. Subclasses set ``name``, ``capabilities``,
    ``backend_module`` (the import name checked for availability) and implement
    :meth:`version` and :meth:`_solve`."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    backend_module: ClassVar[str]

    @classmethod
    def availability(cls) -> Availability:
        """Check that the backend module can be found, without importing it."""
        try:
            found = importlib.util.find_spec(cls.backend_module) is not None
        except (ImportError, ValueError) as exc:
            return Availability(False, f"{cls.backend_module} cannot be found: {exc}")
        if not found:
            return Availability(False, f"python package {cls.backend_module!r} is not installed")
        return Availability(True)

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """The backend's version string (imports the backend)."""

    def validate_options(self, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first unusable backend-specific option.

        The default accepts none; backends that pass options through override this.
        """
        for key in options:
            raise ValueError(f"unknown option {key!r} for solver {self.name}")

    def solve(
        self,
        model: pyo.ConcreteModel,
        config: SolverConfig | None = None,
        *,
        warm_start: Mapping[Any, float] | None = None,
        on_progress: ProgressCallback | None = None,
        cancel_token: CancelToken | None = None,
    ) -> SolveResult:
        """Solve ``model`` within ``config``; load the solution into it when one exists.

        ``warm_start`` maps Pyomo variables to start values (ignored by backends without
        warm start, with a note). ``on_progress`` is called from the solving thread with
        incumbent, bound and elapsed seconds. ``cancel_token`` interrupts the solve from any
        thread; the best design found so far is kept (termination ``interrupted``).
        Raises :class:`SolverUnavailableError` and :class:`ModelNotSupportedError`.
        """
        config = config or SolverConfig()
        availability = self.availability()
        if not availability.available:
            raise SolverUnavailableError(f"solver {self.name} is unavailable: {availability.reason}")
        self.validate_options(config.options)
        start = time.perf_counter()
        form = compile_linear(model)
        self._check_supported(form)  # the backend-specific checks run as _solve translates
        translate_s = time.perf_counter() - start
        notes: list[str] = []
        caps = self.capabilities
        if caps.max_threads is not None and config.threads > caps.max_threads:
            notes.append(f"{self.name} runs on {caps.max_threads} thread(s); asked for {config.threads}")
        if warm_start and not caps.warm_start:
            notes.append(f"{self.name} takes no warm start; it was ignored")
        token = cancel_token or CancelToken()
        if token.cancelled:
            backend = BackendResult(Termination.INTERRUPTED, SolutionStatus.NONE, message="cancelled before start")
        else:
            progress = ProgressReporter(on_progress, start, form.maximize) if on_progress else None
            backend = self._solve(
                form,
                config,
                warm_start=form.start_vector(warm_start) if caps.warm_start else None,
                on_progress=progress,
                cancel_token=token,
            )
        if backend.solution_status is not SolutionStatus.NONE:
            if backend.values is None:
                raise RuntimeError(f"{self.name} reported a solution without values")
            load_values(form, backend.values)
        objective = None if backend.objective is None else form.model_objective(backend.objective)
        bound = None if backend.bound is None else form.model_objective(backend.bound)
        return SolveResult(
            solver=self.name,
            solver_version=self.version(),
            termination=backend.termination,
            solution_status=backend.solution_status,
            objective=objective,
            bound=bound,
            wall_time_s=time.perf_counter() - start,
            translate_s=translate_s,
            message=backend.message,
            notes=tuple(notes) + backend.notes,
        )

    def check_model(self, model: pyo.ConcreteModel) -> LinearForm:
        """Compile ``model`` and check that this solver can take it, without solving.

        Raises :class:`ModelNotSupportedError` saying why not (a continuous variable for an
        integer-only backend, a coefficient without exact integer scaling, ...)."""
        form = compile_linear(model)
        self._check_supported(form)
        self._check_form(form)
        return form

    def _check_form(self, form: LinearForm) -> None:
        """Backend-specific checks beyond :class:`Capabilities`; raise
        :class:`ModelNotSupportedError`. :meth:`_solve` must make the same checks."""
        del form

    def _check_supported(self, form: LinearForm) -> None:
        caps = self.capabilities
        if not caps.continuous and not bool(form.integer.all()):
            j = int(np.flatnonzero(~form.integer)[0])
            raise ModelNotSupportedError(
                f"{self.name} takes integer variables only; {form.column_name(j)} is continuous"
            )
        if not caps.integer and form.is_mip:
            j = int(np.flatnonzero(form.integer)[0])
            raise ModelNotSupportedError(
                f"{self.name} takes continuous variables only; {form.column_name(j)} is integer"
            )
        if not caps.unbounded_variables:
            unbounded = ~(np.isfinite(form.col_lower) & np.isfinite(form.col_upper))
            if unbounded.any():
                j = int(np.flatnonzero(unbounded)[0])
                raise ModelNotSupportedError(
                    f"{self.name} needs finite bounds on every variable; "
                    f"{form.column_name(j)} has bounds ({form.col_lower[j]}, {form.col_upper[j]})"
                )

    @abstractmethod
    def _solve(
        self,
        form: LinearForm,
        config: SolverConfig,
        *,
        warm_start: FloatArray | None,
        on_progress: ProgressReporter | None,
        cancel_token: CancelToken,
    ) -> BackendResult:
        """Run the backend on ``form``. Report progress in the minimized form's units through
        ``on_progress.report``; register the backend's interrupt with
        ``cancel_token.on_cancel`` for the duration of the solve. ``warm_start`` has NaN for
        columns without a start value."""


class ProgressReporter:
    """Passed to backends: converts minimized-form values to the model's sense, stamps the
    elapsed time from the start of :meth:`Solver.solve`, and drops repeats."""

    def __init__(self, callback: ProgressCallback, start: float, maximize: bool = False) -> None:
        self._callback = callback
        self._start = start
        self._maximize = maximize
        self._last: tuple[float | None, float | None] | None = None

    def report(self, incumbent: float | None, bound: float | None) -> None:
        incumbent = _finite(incumbent)
        bound = _finite(bound)
        if (incumbent, bound) == self._last:
            return
        self._last = (incumbent, bound)
        sign = -1.0 if self._maximize else 1.0
        self._callback(
            Progress(
                elapsed_s=time.perf_counter() - self._start,
                incumbent=None if incumbent is None else sign * incumbent,
                bound=None if bound is None else sign * bound,
            )
        )


def _finite(value: float | None) -> float | None:
    if value is None or not np.isfinite(value) or abs(value) >= 1e30:
        return None
    return float(value)
