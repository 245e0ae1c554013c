"""Hypothesis over every registered problem kind's instance schema.

(a) Invalid instances, made by mutating the instance of the kind's example spec (one node of
the JSON document deleted, set to a value of another type, made negative, out of range, NaN
or infinite, emptied, turned into a huge list or a huge string, or given an unknown member),
are refused with :class:`SpecError` only, whose every pointer is an RFC 6901 JSON pointer
into the mutated document; never with another exception. NaN and infinities are always
refused; a change that leaves the instance valid (an optional member deleted, a cost made
negative) must build its model.

(b) Valid instances from the kind's generator, with small seeds and sizes chosen by
Hypothesis, validate again from their JSON form and build a Pyomo model (not solved). Photonics
instances at the default resolution (whose models take seconds to build) are generated and
validated only.

Runs are bounded and deterministic (``derandomize``) for CI.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from designsvc.core.errors import SpecError
from designsvc.core.modelinfo import model_size
from designsvc.core.plugins import PROBLEMS

KINDS = PROBLEMS.names()
JSON_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")
HUGE = 2000
NOT_FINITE = (math.nan, math.inf, -math.inf)
OUT_OF_RANGE = (1e308, -1e308, 2**63, -(2**63), 10**15, 5e-324, 0)
OTHER_TYPES: tuple[Any, ...] = (None, True, 7, 2.5, "text", [], {}, [1, 2], {"a": 1})

# Small sizes for each kind's generator (``Problem.generate(seed=..., **size)``): instances that
# generate and build in well under a second. A new kind must add its own here.
SMALL_SIZES: dict[str, st.SearchStrategy[dict[str, int]]] = {
    "assignment@1": st.fixed_dictionaries({"items": st.integers(1, 15), "bins": st.integers(1, 5)}),
    "network-planning@1": st.fixed_dictionaries(
        {"nodes": st.integers(3, 8), "extra_links": st.integers(0, 4), "scenarios": st.integers(0, 3)}
    ),
    "table-sharding@1": st.fixed_dictionaries(
        {"tables": st.integers(1, 12), "devices": st.integers(1, 4), "memory_gb": st.integers(1, 64)}
    ),
    "photonics@1": st.fixed_dictionaries(
        {"design_px": st.integers(8, 20), "device": st.integers(0, 3)},
        optional={"default_resolution": st.just(0)},
    ),
    # Each antenna instance simulates a dozen designs (NEC) to find a feasible target.
    "antenna@1": st.fixed_dictionaries(
        {"family": st.integers(0, 1), "points": st.integers(3, 7), "search_calls": st.integers(0, 2)},
        optional={"reject_band": st.integers(0, 1)},
    ),
}

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def example_document(kind: str) -> dict[str, Any]:
    """The instance of the kind's example spec (``designsvc example KIND``) as JSON."""
    cls = PROBLEMS.load(kind)
    spec = cls.example_spec()
    if spec.get("instance") is not None:
        document: dict[str, Any] = cls.parse_instance(spec["instance"]).model_dump(mode="json")
        return document
    ref = str(spec["instance_ref"])
    assert ref.startswith("builtin:"), ref
    builtin: dict[str, Any] = cls.builtin_instances()[ref.removeprefix("builtin:")]().model_dump(mode="json")
    return builtin


# -- JSON documents -----------------------------------------------------------------------------

Path = tuple[str | int, ...]


def node_paths(node: Any, path: Path = ()) -> list[Path]:
    """Every node of a JSON document, the root first."""
    paths = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += node_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += node_paths(value, (*path, index))
    return paths


def node_at(document: Any, path: Path) -> Any:
    for token in path:
        document = document[token]
    return document


def replaced(document: Any, path: Path, value: Any) -> Any:
    """A copy of ``document`` with the node at ``path`` set to ``value``."""
    if not path:
        return value
    copied = copy.deepcopy(document)
    node_at(copied, path[:-1])[path[-1]] = value
    return copied


def deleted(document: Any, path: Path) -> Any:
    """A copy of ``document`` without the node at ``path`` (the whole document stays)."""
    if not path:
        return document
    copied = copy.deepcopy(document)
    del node_at(copied, path[:-1])[path[-1]]
    return copied


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@st.composite
def mutations(draw: st.DrawFn, document: dict[str, Any]) -> tuple[str, Path, Any]:
    """``(operation, path, mutated document)``: one node of ``document`` changed."""
    path = draw(st.sampled_from(node_paths(document)))
    old = node_at(document, path)
    operation = draw(
        st.sampled_from(
            [
                "delete",
                "wrong-type",
                "negative",
                "out-of-range",
                "not-finite",
                "empty",
                "huge-list",
                "huge-string",
                "duplicate",
                "unknown-member",
            ]
        )
    )
    if operation == "delete":
        return operation, path, deleted(document, path)
    if operation == "wrong-type":
        other = draw(st.sampled_from([v for v in OTHER_TYPES if kind_of(v) != kind_of(old)]))
        return operation, path, replaced(document, path, other)
    if operation == "negative":
        negative = -abs(old) - 1 if kind_of(old) == "number" else -1
        return operation, path, replaced(document, path, negative)
    if operation == "out-of-range":
        return operation, path, replaced(document, path, draw(st.sampled_from(OUT_OF_RANGE)))
    if operation == "not-finite":
        return operation, path, replaced(document, path, draw(st.sampled_from(NOT_FINITE)))
    if operation == "empty":
        return operation, path, replaced(document, path, {"list": [], "dict": {}}.get(kind_of(old), ""))
    if operation == "huge-list":
        items = old if isinstance(old, list) and old else [old]
        return operation, path, replaced(document, path, (items * (HUGE // len(items) + 1))[:HUGE])
    if operation == "huge-string":
        return operation, path, replaced(document, path, "x" * 100_000)
    if operation == "duplicate" and isinstance(old, list) and old:
        return operation, path, replaced(document, path, [*old, copy.deepcopy(old[0])])
    target = path if isinstance(old, dict) else ()
    return "unknown-member", target, replaced(document, target, {**node_at(document, target), "bogus_member": 1})


def points_into(document: Any, pointer: str) -> bool:
    """Whether ``pointer`` names a node of ``document``, or a member missing from an object
    of it (a required member that was deleted)."""
    if pointer == "":
        return True
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
    node = document
    for position, token in enumerate(tokens):
        last = position == len(tokens) - 1
        if isinstance(node, dict):
            if token not in node:
                return last
            node = node[token]
        elif isinstance(node, list):
            if not (token.isdigit() and int(token) < len(node)):
                return False
            node = node[int(token)]
        else:
            return False
    return True


def contains_not_finite(node: Any) -> bool:
    if isinstance(node, float):
        return not math.isfinite(node)
    if isinstance(node, dict):
        return any(contains_not_finite(v) for v in node.values())
    if isinstance(node, list):
        return any(contains_not_finite(v) for v in node)
    return False


# -- the tests ----------------------------------------------------------------------------------


def test_every_kind_has_small_sizes() -> None:
    assert set(SMALL_SIZES) == set(KINDS), "add the new kind's small generator sizes to SMALL_SIZES"


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_mutated_instances_are_refused_with_pointers(kind: str, data: st.DataObject) -> None:
    cls = PROBLEMS.load(kind)
    operation, path, document = data.draw(mutations(example_document(kind)), label="mutation")
    try:
        instance = cls.parse_instance(document)
    except SpecError as exc:
        for error in exc.errors:
            assert isinstance(error.message, str), error
            assert error.message, error
            assert JSON_POINTER.fullmatch(error.pointer), f"{operation} at {path}: bad pointer {error.pointer!r}"
            assert points_into(document, error.pointer), f"{operation} at {path}: {error} is not in the document"
    else:  # the change kept the instance valid (an optional member deleted, a cost made negative)
        assert not contains_not_finite(document), f"{operation} at {path}: a NaN or infinity was accepted"
        cls(instance).build_model()


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_small_generated_instances_build_their_model(kind: str, data: st.DataObject) -> None:
    cls = PROBLEMS.load(kind)
    seed = data.draw(st.integers(0, 10_000), label="seed")
    size = data.draw(SMALL_SIZES[kind], label="size")
    instance = cls.generate(seed=seed, **size)
    again = cls.parse_instance(instance.model_dump(mode="json"))  # its JSON form is valid too
    model = cls(again).build_model()
    assert model_size(model)["variables"] > 0


@FUZZ
@given(seed=st.integers(0, 10_000), design_px=st.integers(8, 12), device=st.integers(0, 3))
@example(seed=3, design_px=8, device=3)  # a WDM whose design region was narrower than its brush
def test_small_photonics_instances_at_the_default_resolution_are_valid(seed: int, design_px: int, device: int) -> None:
    cls = PROBLEMS.load("photonics@1")
    instance = cls.generate(seed=seed, design_px=design_px, device=device, default_resolution=1)
    cls.parse_instance(instance.model_dump(mode="json"))
