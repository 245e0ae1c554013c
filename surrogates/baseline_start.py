"""``baseline-start``: warm-start the solver from the best of the problem's own heuristics.

The classical first proposer of MIP practice: run every baseline heuristic of the problem,
evaluate each design with the true evaluator, and hand the best feasible one to the solver
as a MIP start (HiGHS ``setSolution``, CP-SAT hints, SCIP solution hints). One round. With
the option ``baseline`` it uses that heuristic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from designsvc.core.proposer import Feedback, Proposal, Proposer
from designsvc.core.types import JsonDict

__all__ = ["BaselineStartProposer"]


class BaselineStartProposer(Proposer):
    """Proposes the best feasible baseline design as a warm start, once."""

    name: ClassVar[str] = "baseline-start"
    title: ClassVar[str] = "warm start from the best feasible baseline heuristic"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chosen: JsonDict | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        for key, value in options.items():
            if key != "baseline":
                raise ValueError(f"unknown option {key!r} for proposer {cls.name}")
            if not isinstance(value, str):
                raise ValueError(f"option 'baseline' takes a baseline name, got {value!r}")

    def _ask(self) -> Proposal | None:
        if self.asked:
            return None
        baselines = dict(self.problem.baselines())
        wanted = self.options.get("baseline")
        if wanted is not None:
            if wanted not in baselines:
                raise ValueError(
                    f"option 'baseline': {self.problem.id()} has no baseline {wanted!r}; "
                    f"known: {', '.join(sorted(baselines))}"
                )
            baselines = {wanted: baselines[wanted]}
        best: tuple[float, str, JsonDict] | None = None
        scores: dict[str, JsonDict] = {}
        for name in sorted(baselines):
            design = baselines[name](self.seed)
            evaluation = self.problem.evaluate(design)
            scores[name] = {"objective": evaluation.objective, "feasible": evaluation.feasible}
            if evaluation.feasible and (best is None or evaluation.objective < best[0]):
                best = (evaluation.objective, name, design)
        self.chosen = {"baselines": scores, "start": None if best is None else best[1]}
        if best is None:
            return Proposal(label="no feasible baseline: cold start")
        return Proposal(warm_start=best[2], label=f"warm start from {best[1]}")

    def _tell(self, proposal: Proposal, feedback: Feedback) -> None:
        del proposal, feedback

    def stats(self) -> JsonDict:
        return {**super().stats(), "baseline_start": self.chosen}

    def _get_state(self) -> JsonDict:
        return {"chosen": self.chosen}

    def _set_state(self, state: JsonDict) -> None:
        self.chosen = state.get("chosen")
