"""The job spec: the public request document (DESIGN.md section 4).

Field errors come out as :class:`~designsvc.core.errors.SpecError` with JSON pointers into
the spec, e.g. ``/limits/time_limit_s``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from designsvc.core.errors import SpecError
from designsvc.core.problem import spec_error_from_validation
from designsvc.core.types import JsonDict, SolverConfig

__all__ = [
    "JobSpec",
    "LimitsSpec",
    "PluginSpec",
    "Tag",
    "TrainSpec",
    "is_training",
    "parse_spec",
    "parse_train_spec",
]

Tag = Annotated[str, Field(min_length=1, max_length=256)]
"""A job's tag: 1 to 256 characters (what the job stores take)."""


def _instance_item(value: Any) -> Any:
    if isinstance(value, str | dict):
        return value
    raise ValueError("expected an instance reference such as 'builtin:NAME' (a string) or instance data (an object)")


# Checked by a validator rather than as ``str | dict``: pydantic puts a union's member names in
# an error's location, which would make pointers such as /instances/0/str.
TrainInstance = Annotated[
    Any, AfterValidator(_instance_item), WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "object"}]})
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginSpec(_Strict):
    """A solver or proposer by registry name, with backend-specific options."""

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


class LimitsSpec(_Strict):
    """Limits of the whole job. ``time_limit_s``: wall seconds for solving (with a proposer,
    all its rounds share it); ``rel_gap``: relative MIP gap; ``threads``: solver threads;
    ``seed``: seed of every random choice (solver, proposer, baselines)."""

    time_limit_s: float = Field(default=60.0, gt=0, le=7 * 24 * 3600)
    rel_gap: float = Field(default=1e-4, ge=0, le=1e6)
    threads: int = Field(default=1, ge=1, le=1024)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    @field_validator("time_limit_s", "rel_gap")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    def solver_config(self, options: dict[str, Any], *, time_limit_s: float | None = None) -> SolverConfig:
        return SolverConfig(
            time_limit_s=self.time_limit_s if time_limit_s is None else time_limit_s,
            rel_gap=self.rel_gap,
            threads=self.threads,
            seed=self.seed,
            options=options,
        )


class JobSpec(_Strict):
    """A design job: which problem, which instance (inline or a reference such as
    ``builtin:gap-40x5``), the solver that finalizes, an optional proposer, limits, tags,
    and whether to compare with the problem's baselines."""

    problem: str = Field(min_length=1, description="problem kind id, e.g. 'assignment@1'")
    instance: dict[str, Any] | None = None
    instance_ref: str | None = None
    solver: PluginSpec = Field(default_factory=lambda: PluginSpec(name="highs"))
    proposer: PluginSpec | None = None
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    compare_baselines: bool = False
    render: bool = True
    tags: list[Tag] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _one_instance(self) -> JobSpec:
        if (self.instance is None) == (self.instance_ref is None):
            raise ValueError("give exactly one of 'instance' and 'instance_ref'")
        return self


class TrainSpec(_Strict):
    """A training job: the trainer (registry name and options), the problem kind it trains
    for, the training instances (each a reference such as ``builtin:mesh-8`` or
    ``generate:seed=3,nodes=10``, or inline instance data), limits (``time_limit_s`` bounds
    the training's wall time, ``seed`` seeds it, ``threads`` caps CPU threads) and tags."""

    train: PluginSpec
    problem: str = Field(min_length=1, description="problem kind id, e.g. 'network-planning@1'")
    instances: list[TrainInstance] = Field(min_length=1, max_length=1000)
    limits: LimitsSpec = Field(default_factory=lambda: LimitsSpec(time_limit_s=3600.0))
    tags: list[Tag] = Field(default_factory=list, max_length=64)


def is_training(data: Any) -> bool:
    """Whether a spec document asks for a training job (it has a ``train`` member)."""
    return isinstance(data, dict) and "train" in data


def parse_train_spec(data: Any) -> TrainSpec:
    """Validate a training spec document (already parsed from JSON or YAML)."""
    if not isinstance(data, dict):
        raise SpecError.at("", f"a spec must be a JSON object, got {type(data).__name__}")
    try:
        return TrainSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error_from_validation(exc) from exc


def parse_spec(data: Any) -> JobSpec:
    """Validate a spec document (already parsed from JSON or YAML)."""
    if not isinstance(data, dict):
        raise SpecError.at("", f"a spec must be a JSON object, got {type(data).__name__}")
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        error = spec_error_from_validation(exc)
        # The model-level rule has no field of its own: point at the instance.
        raise SpecError(
            [e if e.pointer or "instance" not in e.message else type(e)("/instance", e.message) for e in error.errors]
        ) from exc


def dump_spec(spec: JobSpec) -> JsonDict:
    return spec.model_dump(mode="json", exclude_none=True)
