"""The problem plug-in interface (Gymnasium's Env, for design problems).

A problem kind declares its instance schema (pydantic), its feasible set as a Pyomo model,
how to decode a solved model into a design (the kind's own JSON form), and the ground-truth
evaluator. Every objective is minimized; a maximizing kind negates in ``evaluate``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import pyomo.environ as pyo
from pydantic import BaseModel, ValidationError

from designsvc.core.errors import FieldError, SpecError, pointer_from_path
from designsvc.core.parametric import ParametricInterface
from designsvc.core.surrogate import SurrogateInterface
from designsvc.core.types import Artifact, Evaluation, JsonDict

__all__ = ["Baseline", "Importer", "Problem", "design_member", "spec_error_from_validation"]

InstanceT = TypeVar("InstanceT", bound=BaseModel)

Baseline = Callable[[int], JsonDict]
"""A named heuristic: takes a seed, returns a design (which may be infeasible)."""


class Importer(Protocol):
    """Reads a file a user brings (a topology, a workbook) and a seed for whatever the file
    lacks and must be generated (traffic, say); returns instance data (JSON) for the kind's
    schema. Raises ValueError naming the file and the element at fault.

    The keyword-only caps bound what the instance gets, to keep big files within a model's
    size (``designsvc import-topology --max-demands/--max-scenarios``): ``max_demands``
    (at least 1) the number of demands, ``max_scenarios`` (at least 0) the number of
    failure scenarios; ``None`` means no cap. Each importer documents which demands and
    scenarios it keeps, and ignores a cap that means nothing for its kind. Callers pass
    the caps by keyword and only when they are set, so a plain ``(path, seed)`` function
    still works as an importer at run time when no cap is asked for."""

    def __call__(
        self, path: Path, seed: int, /, *, max_demands: int | None = None, max_scenarios: int | None = None
    ) -> JsonDict: ...


def spec_error_from_validation(exc: ValidationError, prefix: str = "") -> SpecError:
    """Turn pydantic's errors into a :class:`SpecError` with JSON pointers under ``prefix``."""
    errors = [FieldError(prefix + pointer_from_path(err["loc"]), _message(err["msg"])) for err in exc.errors()]
    return SpecError(errors or [FieldError(prefix, str(exc))])


def design_member(design: Any, key: str, shape: str) -> Mapping[str, Any]:
    """The one member ``key`` of a design object, which must be a mapping (``shape`` shows
    its form in messages, e.g. ``"{link_name: units}"``). Raises ValueError naming what is
    wrong: not an object, unknown members, ``key`` missing or not an object."""
    if not isinstance(design, Mapping):
        raise ValueError(f"a design must be an object, got {type(design).__name__}")
    extra = sorted(str(k) for k in design if k != key)
    if extra:
        raise ValueError(f"unknown design field(s) {', '.join(map(repr, extra))}; expected {key!r}")
    member = design.get(key)
    if not isinstance(member, Mapping):
        found = "missing" if member is None else type(member).__name__
        raise ValueError(f"a design must be {{{key!r}: {shape}}}; {key!r} is {found}")
    return member


def _message(msg: str) -> str:
    for noise in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(noise)
    return msg


class Problem(ABC, Generic[InstanceT]):
    """One problem kind. An object holds one validated instance.

    Class attributes: ``kind`` (lowercase, e.g. ``"assignment"``), ``version`` (int),
    ``title`` (one line), ``instance_schema`` (the pydantic model of an instance) and
    ``objective_is_linear`` (True when :meth:`evaluate`'s objective equals the model's
    objective on every feasible design; the conformance checker then compares them).
    """

    kind: ClassVar[str]
    version: ClassVar[int]
    title: ClassVar[str]
    instance_schema: ClassVar[type[BaseModel]]
    objective_is_linear: ClassVar[bool] = False

    def __init__(self, instance: InstanceT) -> None:
        """Hold ``instance`` after the cross-field rules of :meth:`check_instance` (so an
        object never holds an invalid instance, however it was made)."""
        type(self).check_instance(instance)
        self.instance = instance

    @classmethod
    def id(cls) -> str:
        """The versioned registry id, ``kind@version``."""
        return f"{cls.kind}@{cls.version}"

    @classmethod
    def parse_instance(cls, data: Any) -> InstanceT:
        """Validate raw instance data; :class:`SpecError` pointers are relative to the
        instance (the caller prefixes ``/instance``)."""
        try:
            instance = cls.instance_schema.model_validate(data)
        except ValidationError as exc:
            raise spec_error_from_validation(exc) from exc
        cls.check_instance(instance)  # type: ignore[arg-type]
        return instance  # type: ignore[return-value]

    @classmethod
    def check_instance(cls, instance: InstanceT) -> None:
        """Rules across fields that the schema cannot state; raise :class:`SpecError`."""

    @classmethod
    @abstractmethod
    def builtin_instances(cls) -> Mapping[str, Callable[[], InstanceT]]:
        """Named instances reachable as ``"instance_ref": "builtin:NAME"``."""

    @classmethod
    @abstractmethod
    def generate(cls, *, seed: int, **size: int) -> InstanceT:
        """A random instance; the same seed and size give the same instance."""

    @classmethod
    @abstractmethod
    def example_spec(cls) -> JsonDict:
        """A ready-to-run spec for ``designsvc example KIND``."""

    @abstractmethod
    def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
        """A fresh Pyomo model of the feasible set and the (linear) objective on each call.

        ``fixed`` restricts the model in the kind's own terms (a proposer's pruning)."""

    @abstractmethod
    def extract_design(self, model: pyo.ConcreteModel) -> JsonDict:
        """Decode the solved model's variable values into a design."""

    @abstractmethod
    def encode_design(self, model: pyo.ConcreteModel, design: JsonDict) -> Mapping[Any, float]:
        """Variable values (Pyomo VarData -> value) of ``design`` in ``model``, for a warm
        start; the inverse of :meth:`extract_design`."""

    @abstractmethod
    def evaluate(self, design: JsonDict) -> Evaluation:
        """The ground truth: objective (minimized), feasibility and violations."""

    @classmethod
    def importers(cls) -> Mapping[str, Importer]:
        """File formats instances can be imported from (``designsvc import-topology``):
        format name -> importer. None by default."""
        return {}

    def baselines(self) -> Mapping[str, Baseline]:
        """Named heuristics a result is compared with (``compare_baselines``)."""
        return {}

    def render(self, design: JsonDict) -> list[Artifact]:
        """Pictures and files of a design (PNG, SVG, ...); none by default."""
        return []

    def environment(self, **options: Any) -> Any:
        """A reinforcement-learning environment over this instance (a ``gymnasium.Env``
        that builds a design step by step), for learned proposers such as ``neuroplan``.
        Its observation and action contract is the kind's to document. Kinds without one
        raise NotImplementedError (the default)."""
        del options
        raise NotImplementedError(f"{self.id()} offers no reinforcement-learning environment")

    def surrogate_interface(self) -> SurrogateInterface:
        """The linear-surrogate view of this instance (:class:`SurrogateInterface`), for
        SurCo-style proposers that learn the costs of a linear objective over the model's
        feasible set. Kinds without one raise NotImplementedError (the default)."""
        raise NotImplementedError(f"{self.id()} offers no linear-surrogate interface")

    def parametric_interface(self) -> ParametricInterface:
        """The parametric-response view of this instance (:class:`ParametricInterface`):
        continuous parameters in a polytope, a simulated frequency response and a band
        target, for simulator-surrogate proposers such as ``czp-search``. Kinds without
        one raise NotImplementedError (the default)."""
        raise NotImplementedError(f"{self.id()} offers no parametric-response interface")
