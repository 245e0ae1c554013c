"""Value types shared by every layer: solver configuration and results, evaluations, artifacts.

All durations are seconds (``_s`` suffix). Objectives are in the problem's own units and are
minimized unless a solver result says otherwise (reference LP instances may maximize).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "PLAIN_NAME",
    "Artifact",
    "Evaluation",
    "JsonDict",
    "Progress",
    "SolutionStatus",
    "SolveResult",
    "SolverConfig",
    "Termination",
    "relative_gap",
]

JsonDict = dict[str, Any]

PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""A plain file name (no path, no leading dot): artifact names, job and batch ids. Every
layer that takes one from outside checks it with this pattern (no path traversal)."""


class Termination(StrEnum):
    """Why a solve stopped. Kept apart from :class:`SolutionStatus`: an infeasible model is a
    result (``infeasible``), not an exception; a time limit may come with a feasible design."""

    OPTIMAL = "optimal"
    """Proven optimal within the requested relative gap."""
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    INTERRUPTED = "interrupted"
    """Cancelled through the cancel token; the best design so far is kept."""
    OTHER_LIMIT = "other_limit"
    """Stopped by a backend limit other than time (iterations, nodes, solutions, memory)."""
    ERROR = "error"


class SolutionStatus(StrEnum):
    """What the solver hands back: nothing, a feasible design, or a proven optimal one."""

    NONE = "none"
    FEASIBLE = "feasible"
    OPTIMAL = "optimal"


@dataclass(frozen=True)
class SolverConfig:
    """Limits for one solve.

    ``time_limit_s`` wall-clock seconds (> 0); ``rel_gap`` relative MIP gap at which the
    backend may stop (>= 0); ``threads`` worker threads (>= 1; a backend that runs on one
    thread only uses one and says so in ``SolveResult.notes``); ``seed`` the backend's random
    seed; ``options`` backend-specific options passed through by name.
    """

    time_limit_s: float = 60.0
    rel_gap: float = 1e-4
    threads: int = 1
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.time_limit_s > 0 and math.isfinite(self.time_limit_s)):
            raise ValueError(f"time_limit_s must be a finite number > 0, got {self.time_limit_s}")
        if not (self.rel_gap >= 0 and math.isfinite(self.rel_gap)):
            raise ValueError(f"rel_gap must be a finite number >= 0, got {self.rel_gap}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class Progress:
    """One progress report from a running solve: the incumbent objective (None before the
    first feasible design), the best bound (None when unknown) and wall seconds elapsed."""

    elapsed_s: float
    incumbent: float | None
    bound: float | None

    @property
    def gap(self) -> float | None:
        """Relative gap between incumbent and bound, when both are known."""
        if self.incumbent is None or self.bound is None:
            return None
        return relative_gap(self.incumbent, self.bound)


def relative_gap(objective: float, bound: float) -> float:
    """``|objective - bound| / max(|objective|, 1e-9)``, HiGHS's and SCIP's convention."""
    if objective == bound:
        return 0.0
    return abs(objective - bound) / max(abs(objective), 1e-9)


@dataclass(frozen=True)
class SolveResult:
    """What a solver returns. Values of a solution, when there is one, are loaded into the
    model's variables (as Pyomo does); ``objective`` and ``bound`` are in the model's own
    objective sense, with any constant term included."""

    solver: str
    solver_version: str
    termination: Termination
    solution_status: SolutionStatus
    objective: float | None
    bound: float | None
    wall_time_s: float
    translate_s: float = 0.0
    """Seconds spent turning the Pyomo model into the backend's form (part of wall_time_s)."""
    message: str = ""
    notes: tuple[str, ...] = ()

    @property
    def gap(self) -> float | None:
        """Relative gap between objective and bound, when both are known."""
        if self.objective is None or self.bound is None:
            return None
        if not (math.isfinite(self.objective) and math.isfinite(self.bound)):
            return None
        return relative_gap(self.objective, self.bound)

    @property
    def has_solution(self) -> bool:
        return self.solution_status is not SolutionStatus.NONE

    def to_json(self) -> JsonDict:
        """A JSON-ready summary (no design: that is the problem's to decode)."""
        return {
            "solver": self.solver,
            "solver_version": self.solver_version,
            "termination": self.termination.value,
            "solution_status": self.solution_status.value,
            "objective": _finite_or_none(self.objective),
            "bound": _finite_or_none(self.bound),
            "gap": self.gap,
            "wall_time_s": self.wall_time_s,
            "translate_s": self.translate_s,
            "message": self.message,
            "notes": list(self.notes),
        }


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Evaluation:
    """Ground-truth verdict on a design: ``objective`` in the problem's units (minimized),
    ``feasible`` whether every rule holds, ``violations`` one human line per broken rule,
    ``breakdown`` named parts of the objective or other measured quantities."""

    objective: float
    feasible: bool
    violations: tuple[str, ...] = ()
    breakdown: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> JsonDict:
        return {
            "objective": self.objective,
            "feasible": self.feasible,
            "violations": list(self.violations),
            "breakdown": dict(self.breakdown),
        }


@dataclass(frozen=True)
class Artifact:
    """A file produced for a job (a plot, a Touchstone file, a mask): ``name`` is a plain
    file name (:data:`PLAIN_NAME`), ``media_type`` an IANA media type, ``data`` the bytes."""

    name: str
    media_type: str
    data: bytes
