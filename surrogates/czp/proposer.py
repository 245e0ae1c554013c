"""The ``czp-search`` proposer: a design meeting an ``|S11|`` target found by searching on a
pretrained CZP surrogate and verifying in the simulator (:mod:`surrogates.czp.search`).

Works through the problem's parametric interface
(:meth:`~designsvc.core.problem.Problem.parametric_interface`; ``antenna@1``): the design
space, the target's band masks, the simulator and the projection onto the space. The
surrogate comes from a checkpoint (option ``checkpoint``): ``"shipped"`` (default) is the
one shipped for the instance's family (``surrogates/czp/checkpoints/czp-<family>.pt``, made
by ``designsvc train czp``; see the README there), a path is any checkpoint of
:mod:`surrogates.czp.checkpoint`, ``"none"`` starts from an untrained model and first
simulates ``initial_simulations`` sampled designs (default 16 then, 0 otherwise). A
checkpoint of another family or other parameter names is refused. The model is fine-tuned
on the instance's own simulations as they come.

The search (all of it runs in the first :meth:`ask`) stops at the first design meeting the
target, after ``max_simulations`` simulations (60), at ``time_budget_s`` or, in a job, when
:meth:`Proposer.time_left_s` runs out (the final solve and evaluation keep their share).
The one proposal: ``warm_start`` the best simulated design, ``fixed`` =
``fixed_for(best)`` (the model's projection target), so the job's solve returns that very
design from the declared feasible set (the search only simulates projected, feasible
designs). Without any simulation the proposal is the plain solve (the default design).

Options (all optional): ``checkpoint``, ``max_simulations`` (60), ``batch`` (3, simulations
per round), ``margin_db`` (1.5), ``pool`` (2048), ``starts`` (24), ``steps`` (120),
``step_lr`` (0.02), ``refit_steps`` (60), ``refit_lr`` (1e-3), ``replay_weight`` (0.3),
``initial_simulations``, ``time_budget_s``, ``device`` (``auto`` | ``cpu`` | ``cuda``); see
:mod:`surrogates.czp.search`. Stats: simulations (``nec_calls``), ``calls_to_success``,
``met``, ``best_shortfall_db``, the surrogate's prequential dB RMSE on this instance
(``surrogate_rmse_db``, and ``first_round_rmse_db`` straight from the checkpoint), the
checkpoint's own held-out RMSE and its SHA-256 (also ``provenance.checkpoint_sha256``).

torch is imported inside :meth:`_ask` (the API process loads this class to validate specs).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from designsvc.core.options import parse_options
from designsvc.core.proposer import Feedback, Proposal, Proposer
from designsvc.core.types import JsonDict

__all__ = ["CHECKPOINT_DIR", "CZPSearchOptions", "CZPSearchProposer", "shipped_checkpoint"]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
"""Where the shipped checkpoints live: ``czp-<family>.pt``."""

DEFAULT_FRESH_SIMULATIONS = 16


def shipped_checkpoint(family: str) -> Path:
    """The shipped checkpoint of ``family`` (the file may be missing)."""
    return CHECKPOINT_DIR / f"czp-{family}.pt"


class CZPSearchOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = "shipped"
    max_simulations: int = Field(default=60, ge=0, le=100_000)
    batch: int = Field(default=3, ge=1, le=1000)
    margin_db: float = Field(default=1.5, ge=0, le=40)
    pool: int = Field(default=2048, ge=1, le=1_000_000)
    starts: int = Field(default=24, ge=1, le=10_000)
    steps: int = Field(default=120, ge=0, le=100_000)
    step_lr: float = Field(default=0.02, gt=0, le=1)
    refit_steps: int = Field(default=60, ge=0, le=100_000)
    refit_lr: float = Field(default=1e-3, gt=0, le=1)
    replay_weight: float = Field(default=0.3, ge=0, le=100)
    initial_simulations: int | None = Field(default=None, ge=0, le=100_000)
    time_budget_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    device: str = "auto"

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint(cls, value: str) -> str:
        if value in ("shipped", "none"):
            return value
        if not value.strip():
            raise ValueError("expected 'shipped', 'none' or the path of a CZP checkpoint")
        if not Path(value).is_file():
            raise ValueError(f"no checkpoint file at {value!r} (use 'shipped', 'none' or a path)")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda"):
            raise ValueError(f"expected auto, cpu or cuda, got {value!r}")
        return value


class CZPSearchProposer(Proposer):
    """Surrogate-guided search on a CZP checkpoint, verified in the simulator (see the
    module docstring)."""

    name: ClassVar[str] = "czp-search"
    title: ClassVar[str] = "Search on a pretrained CZP surrogate of |S11|, verified in NEC2 and refitted"
    problems: ClassVar[frozenset[str] | None] = frozenset({"antenna@1"})
    queue: ClassVar[str] = "gpu"

    def __init__(self, problem: Any, *, seed: int = 0, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(problem, seed=seed, options=options)
        self.opts: CZPSearchOptions = parse_options(CZPSearchOptions, self.options)
        self._outcome: JsonDict | None = None
        self._proposal: JsonDict | None = None
        self._checkpoint: JsonDict | None = None
        self._told: list[JsonDict] = []

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        parse_options(CZPSearchOptions, options)

    def fingerprint(self) -> str | None:
        if self._checkpoint is None:
            return None
        digest = self._checkpoint.get("sha256")
        return str(digest) if digest else None

    def _ask(self) -> Proposal | None:
        if self.asked > 0:
            return None
        if self._proposal is None:
            self._proposal = self._search()
        return Proposal(
            warm_start=self._proposal.get("warm_start"),
            fixed=self._proposal.get("fixed"),
            label=str(self._proposal.get("label", "czp-search")),
        )

    def _search(self) -> JsonDict:
        import torch

        from surrogates.czp import checkpoint as czp_checkpoint
        from surrogates.czp.model import CZPConfig, CZPSurrogate
        from surrogates.czp.search import SearchConfig, czp_search
        from surrogates.devices import select_device

        opts = self.opts
        interface = self.problem.parametric_interface()
        device = select_device(opts.device)
        model: Any
        if opts.checkpoint == "none":
            model = CZPSurrogate(CZPConfig.for_sweep(interface.n_params, interface.freqs_hz), seed=self.seed).to(device)
            lower, upper = interface.lower, interface.upper
            self._checkpoint = {"source": "none", "sha256": None}
            initial = DEFAULT_FRESH_SIMULATIONS if opts.initial_simulations is None else opts.initial_simulations
        else:
            path = shipped_checkpoint(interface.family) if opts.checkpoint == "shipped" else Path(opts.checkpoint)
            if opts.checkpoint == "shipped" and not path.is_file():
                raise ValueError(
                    f"option 'checkpoint': no shipped CZP checkpoint for {interface.family} ({path.name}); "
                    "train one with `designsvc train czp` and pass its path, or use 'none'"
                )
            model, meta, digest = czp_checkpoint.load(path, device)
            _check_meta(meta, interface.family, interface.param_names, path)
            import numpy as np

            lower = np.asarray(meta["lower"], dtype=np.float64)
            upper = np.asarray(meta["upper"], dtype=np.float64)
            training = meta.get("training") or {}
            self._checkpoint = {
                "source": opts.checkpoint if opts.checkpoint != "shipped" else f"shipped:{path.name}",
                "sha256": digest,
                "held_out_rmse_db": training.get("rmse_db"),
                "n_designs": (meta.get("dataset") or {}).get("n_designs"),
            }
            initial = opts.initial_simulations or 0
        budget = opts.time_budget_s
        left = self.time_left_s()
        if left is not None:
            budget = left if budget is None else min(budget, left)
        deadline = None if budget is None else time.perf_counter() + budget
        config = SearchConfig(
            max_simulations=opts.max_simulations,
            batch=opts.batch,
            pool=opts.pool,
            starts=opts.starts,
            steps=opts.steps,
            step_lr=opts.step_lr,
            margin_db=opts.margin_db,
            refit_steps=opts.refit_steps,
            refit_lr=opts.refit_lr,
            replay_weight=opts.replay_weight,
            initial_simulations=initial,
            seed=self.seed,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            outcome = czp_search(
                interface, model, model_lower=lower, model_upper=upper, config=config, deadline=deadline
            )
        self._outcome = outcome.to_json()
        if outcome.params is None:
            return {"warm_start": None, "fixed": None, "label": "czp-search: nothing simulated (default design)"}
        return {
            "warm_start": interface.design(outcome.params),
            "fixed": interface.fixed_for(outcome.params),
            "label": f"czp-search: best of {outcome.simulations} simulations ({'met' if outcome.met else 'not met'})",
        }

    def _tell(self, proposal: Proposal, feedback: Feedback) -> None:
        del proposal
        evaluation = feedback.evaluation
        self._told.append(
            {
                "objective": None if evaluation is None else evaluation.objective,
                "feasible": None if evaluation is None else evaluation.feasible,
            }
        )

    def stats(self) -> JsonDict:
        base = super().stats()
        outcome = self._outcome or {}
        base.update(
            {
                "nec_calls": outcome.get("simulations", 0),
                "calls_to_success": outcome.get("calls_to_success"),
                "met": outcome.get("met", False),
                "best_shortfall_db": outcome.get("loss_db"),
                "surrogate_rmse_db": outcome.get("prediction_rmse_db"),
                "first_round_rmse_db": outcome.get("first_round_rmse_db"),
                "search_rounds": outcome.get("rounds", 0),
                "stopped_by": outcome.get("stopped_by"),
                "search_s": outcome.get("wall_s"),
                "checkpoint": self._checkpoint,
                "checkpoint_sha256": self.fingerprint(),
            }
        )
        return base

    def _get_state(self) -> JsonDict:
        return {
            "outcome": self._outcome,
            "proposal": self._proposal,
            "checkpoint": self._checkpoint,
            "told": list(self._told),
        }

    def _set_state(self, state: JsonDict) -> None:
        self._outcome = state.get("outcome")
        self._proposal = state.get("proposal")
        self._checkpoint = state.get("checkpoint")
        self._told = list(state.get("told") or [])


def _check_meta(meta: Mapping[str, Any], family: str, names: tuple[str, ...], path: Path) -> None:
    """ValueError ``option 'checkpoint': ...`` when ``meta`` is not of this family."""
    found = meta.get("family")
    if found != family:
        raise ValueError(f"option 'checkpoint': {path} is a CZP checkpoint of {found!r}, not of {family!r}")
    if tuple(meta.get("param_names") or ()) != tuple(names):
        raise ValueError(f"option 'checkpoint': {path} was trained on other parameters than {', '.join(names)}")
    for key in ("lower", "upper"):
        if len(meta.get(key) or ()) != len(names):
            raise ValueError(f"option 'checkpoint': {path} lacks its unit box ({key!r} of {len(names)} values)")
