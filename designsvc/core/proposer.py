"""The proposer plug-in interface: the learned layer proposes, the solver finalizes.

Ask/tell as in nevergrad: :meth:`Proposer.ask` returns a :class:`Proposal` (a warm-start
design, a restriction of the model in the problem's terms), or None when the proposer is
done; the pipeline solves the restricted model and :meth:`Proposer.tell` gets the outcome.
The public methods do the bookkeeping; subclasses fill ``_ask`` and ``_tell``. State is JSON
(:meth:`get_state` / :meth:`from_state`) so a stateless worker can resume a proposer.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from designsvc.core.problem import Problem
from designsvc.core.types import Evaluation, JsonDict, SolveResult

__all__ = ["Feedback", "Proposal", "Proposer"]


@dataclass(frozen=True)
class Proposal:
    """``warm_start``: a design the solver starts from; ``fixed``: a restriction passed to
    ``Problem.build_model(fixed=...)``; ``label``: what this proposal is, for the stats."""

    warm_start: JsonDict | None = None
    fixed: JsonDict | None = None
    label: str = ""


@dataclass(frozen=True)
class Feedback:
    """The outcome of solving a proposal: the solver's result, and when it found a design,
    the design and its ground-truth evaluation."""

    solve: SolveResult
    design: JsonDict | None = None
    evaluation: Evaluation | None = None


class Proposer(ABC):
    """Base of proposers. ``name`` is the registry name. Options are validated by
    :meth:`check_options` (raise ``ValueError`` naming the option)."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    problems: ClassVar[frozenset[str] | None] = None
    """The problem kind ids this proposer works on; None for any kind."""
    queue: ClassVar[str] = "cpu"
    """The executor queue of jobs using it (``gpu`` for neural proposers)."""

    def __init__(self, problem: Problem[Any], *, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        self.problem = problem
        self.seed = seed
        self.options: dict[str, Any] = dict(options or {})
        self.check_options(self.options)
        self.asked = 0
        self.told = 0
        self.history: list[JsonDict] = []
        self.deadline: float | None = None
        """When the job's time limit ends, as a ``time.perf_counter()`` value; set by the
        pipeline before the first :meth:`ask` (None outside a job). A proposer whose own
        loop runs long stops in time to leave the solver and the evaluator their share
        (see :meth:`time_left_s`)."""

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        for key in options:
            raise ValueError(f"unknown option {key!r} for proposer {cls.name}")

    def ask(self) -> Proposal | None:
        proposal = self._ask()
        if proposal is not None:
            self.asked += 1
        return proposal

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        self.told += 1
        self.history.append(
            {
                "label": proposal.label,
                "termination": feedback.solve.termination.value,
                "objective": None if feedback.evaluation is None else feedback.evaluation.objective,
                "feasible": None if feedback.evaluation is None else feedback.evaluation.feasible,
            }
        )
        self._tell(proposal, feedback)

    def time_left_s(self, *, reserve_fraction: float = 0.15, reserve_min_s: float = 5.0) -> float | None:
        """Seconds this proposer may still spend before the job's deadline, keeping back
        ``max(reserve_min_s, reserve_fraction x the time left)`` for the solve and the
        evaluation that follow; None when no deadline is set; never below 0."""
        if self.deadline is None:
            return None
        left = self.deadline - time.perf_counter()
        return max(0.0, left - max(reserve_min_s, reserve_fraction * left))

    def fingerprint(self) -> str | None:
        """The SHA-256 of the model or checkpoint this proposer used (for provenance), or
        None when it uses none."""
        return None

    def stats(self) -> JsonDict:
        """What the proposer did, for the result document."""
        return {"name": self.name, "asked": self.asked, "told": self.told, "rounds": list(self.history)}

    def get_state(self) -> JsonDict:
        return {
            "name": self.name,
            "seed": self.seed,
            "options": self.options,
            "asked": self.asked,
            "told": self.told,
            "history": self.history,
            "own": self._get_state(),
        }

    @classmethod
    def from_state(cls, problem: Problem[Any], state: JsonDict) -> Proposer:
        if state.get("name") != cls.name:
            raise ValueError(f"state of proposer {state.get('name')!r} given to {cls.name!r}")
        proposer = cls(problem, seed=int(state["seed"]), options=state["options"])
        proposer.asked = int(state["asked"])
        proposer.told = int(state["told"])
        proposer.history = list(state["history"])
        proposer._set_state(state["own"])
        return proposer

    @abstractmethod
    def _ask(self) -> Proposal | None: ...

    @abstractmethod
    def _tell(self, proposal: Proposal, feedback: Feedback) -> None: ...

    def _get_state(self) -> JsonDict:
        return {}

    def _set_state(self, state: JsonDict) -> None:
        del state
