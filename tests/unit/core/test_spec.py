"""The spec document: defaults, JSON pointers for every field error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from designsvc.core.errors import SpecError
from designsvc.core.spec import parse_spec

BASE: dict[str, Any] = {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3"}


def _pointers(data: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return [e.pointer for e in info.value.errors]


def test_defaults() -> None:
    spec = parse_spec(BASE)
    assert spec.solver.name == "highs"
    assert spec.limits.time_limit_s == 60.0
    assert spec.proposer is None
    assert not spec.compare_baselines


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ({"limits": {"time_limit_s": 0}}, "/limits/time_limit_s"),
        ({"limits": {"time_limit_s": -3}}, "/limits/time_limit_s"),
        ({"limits": {"threads": 0}}, "/limits/threads"),
        ({"limits": {"seed": -1}}, "/limits/seed"),
        ({"limits": {"rel_gap": "x"}}, "/limits/rel_gap"),
        ({"limits": {"timelimit": 3}}, "/limits/timelimit"),
        ({"solver": {"name": ""}}, "/solver/name"),
        ({"solver": {"options": {}}}, "/solver/name"),
        ({"tags": "a"}, "/tags"),
        ({"colour": "red"}, "/colour"),
    ],
)
def test_field_errors_point_at_the_field(patch: dict[str, Any], pointer: str) -> None:
    assert pointer in _pointers({**BASE, **patch})


def test_exactly_one_instance_source() -> None:
    assert _pointers({"problem": "assignment@1"}) == ["/instance"]
    assert _pointers({**BASE, "instance": {}}) == ["/instance"]


def test_not_an_object() -> None:
    assert _pointers([1, 2]) == [""]


def test_infinite_time_limit_is_refused() -> None:
    assert _pointers({**BASE, "limits": {"time_limit_s": float("inf")}}) == ["/limits/time_limit_s"]


@given(st.floats(allow_nan=True), st.integers(), st.integers())
def test_limits_are_accepted_exactly_when_in_range(time_limit: float, threads: int, seed: int) -> None:
    data = {**BASE, "limits": {"time_limit_s": time_limit, "threads": threads, "seed": seed}}
    valid = 0 < time_limit <= 7 * 24 * 3600 and 1 <= threads <= 1024 and 0 <= seed < 2**31
    if valid:
        assert parse_spec(data).limits.solver_config({}).time_limit_s == time_limit
    else:
        with pytest.raises(SpecError) as info:
            parse_spec(data)
        assert all(e.pointer.startswith("/limits/") for e in info.value.errors)
