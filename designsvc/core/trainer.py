"""The trainer plug-in interface: training a learned proposer is a job like a solve.

A trainer (registry ``designsvc.trainers``) fits a proposer's model on instances of one
problem kind and returns its checkpoint as an artifact, with the checkpoint's SHA-256
fingerprint (which every result that uses it records) and its metrics. It runs in a worker
(on the ``gpu`` queue by default: CUDA when the worker has it, the CPU otherwise); the
class itself must import nothing heavy at module level (no torch), because the API process
loads it to validate a training spec.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from designsvc.core.cancel import CancelToken
from designsvc.core.problem import Problem
from designsvc.core.types import Artifact, JsonDict

__all__ = ["Trainer", "TrainingOutput"]


@dataclass(frozen=True)
class TrainingOutput:
    """What a training run produced: ``checkpoint`` (an artifact), its ``fingerprint``
    (hex SHA-256 of the artifact's bytes), ``metrics`` (JSON: the learning curve, the final
    evaluation) and any other ``artifacts`` (plots)."""

    checkpoint: Artifact
    fingerprint: str
    metrics: JsonDict
    artifacts: list[Artifact] = field(default_factory=list)


class Trainer(ABC):
    """Base of trainers. ``name`` is the registry name (the proposer it trains, usually);
    ``problem`` the problem kind id it trains for; ``queue`` where its jobs run."""

    name: ClassVar[str]
    problem: ClassVar[str]
    title: ClassVar[str] = ""
    queue: ClassVar[str] = "gpu"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ValueError naming the option (``option 'x': ...``) for bad options."""
        for key in options:
            raise ValueError(f"unknown option {key!r} for trainer {cls.name}")

    @abstractmethod
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
        """Train on ``problems`` (each holding one validated instance) within
        ``time_limit_s`` wall seconds; a cancel stops early and still returns the model so
        far. Progress goes to ``on_event`` as ``{"type": "progress", ...}`` dicts."""
