"""The calibrated (neural) cost model of table-sharding@1, in numpy: the shipped calibration,
monotonicity, the relaxed form and its gradient, and how instances name calibrations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from designsvc.core.errors import SpecError
from problems.table_sharding.cost import AnalyticCostModel
from problems.table_sharding.generate import generate
from problems.table_sharding.neural import (
    ENV_VAR,
    SHIPPED_DIR,
    CalibratedCostModel,
    available_calibrations,
    load_calibration,
)
from problems.table_sharding.problem import TableShardingProblem
from problems.table_sharding.schema import Device, TableShardingInstance


def _instance(seed: int = 5, tables: int = 12, devices: int = 3, **extra: object) -> TableShardingInstance:
    return generate(seed, tables, devices).model_copy(update={"calibration": "cpu-small", **extra})


@pytest.fixture(scope="module")
def problem() -> TableShardingProblem:
    return TableShardingProblem(_instance())


def test_shipped_calibration_loads_and_is_used(problem: TableShardingProblem) -> None:
    assert "cpu-small" in available_calibrations()
    calibration = load_calibration("cpu-small")
    assert calibration.meta["device"] == "cpu"
    assert calibration.metrics["validation"]["spearman"] > 0.8
    assert isinstance(problem.cost_model, CalibratedCostModel)
    plain = TableShardingProblem(generate(5, 12, 3))
    assert isinstance(plain.cost_model, AnalyticCostModel)


def test_device_cost_units_zero_and_speed(problem: TableShardingProblem) -> None:
    model = problem.cost_model
    assert isinstance(model, CalibratedCostModel)
    tables = problem.instance.tables
    assert model.device_cost([], Device(memory_gb=1.0)) == 0.0
    slow = model.device_cost(tables[:3], Device(memory_gb=1.0))
    fast = model.device_cost(tables[:3], Device(memory_gb=1.0, relative_speed=2.0))
    assert slow > 0.0
    assert fast == pytest.approx(slow / 2.0)
    assert slow == pytest.approx(model.compute_ms(tables[:3]) + model.comm_ms(tables[:3]))
    # compute scales linearly with the batch size
    doubled = CalibratedCostModel.from_instance(problem.instance.model_copy(update={"batch_size": 2 * 65_536}))
    assert doubled.compute_ms(tables[:3]) == pytest.approx(2.0 * model.compute_ms(tables[:3]))


def test_monotone_in_load_adding_a_table_never_lowers_the_cost(problem: TableShardingProblem) -> None:
    model = problem.cost_model
    tables = problem.instance.tables
    rng = np.random.default_rng(0)
    device = Device(memory_gb=1.0)
    for _ in range(200):
        order = rng.permutation(len(tables)).tolist()
        k = int(rng.integers(0, len(tables)))
        base = [tables[i] for i in order[:k]]
        assert model.device_cost([*base, tables[order[k]]], device) >= model.device_cost(base, device)


def test_not_additive_a_fixed_cost_is_paid_once_per_device(problem: TableShardingProblem) -> None:
    model = problem.cost_model
    assert isinstance(model, CalibratedCostModel)
    tables = problem.instance.tables
    singles = [model.compute_ms([t]) for t in tables]
    together = model.compute_ms(tables)
    assert together != pytest.approx(sum(singles), rel=1e-3)
    # the constant r0 is paid once: no set costs less than it, and a single table more
    floor = model.calibration.c2 * model.batch_scale
    assert floor > 0.0
    assert min(singles) > floor


def test_relaxed_objective_matches_evaluator_at_plans(problem: TableShardingProblem) -> None:
    interface = problem.surrogate_interface()
    rng = np.random.default_rng(1)
    num_devices = interface.shape[1]
    for _ in range(5):
        design = {"assign": {t.name: int(rng.integers(0, num_devices)) for t in problem.instance.tables}}
        x = interface.decision(design)
        value, _ = interface.relaxed_objective(x)
        assert value == pytest.approx(problem.evaluate(design).objective, rel=1e-9)
    # initial costs are the calibrated standalone costs (in 10-microsecond ticks)
    t0 = problem.instance.tables[0]
    assert interface.initial_costs[0, 0] == pytest.approx(
        problem.cost_model.device_cost([t0], Device(memory_gb=1.0)), abs=0.01
    )


def test_relaxed_gradient_matches_finite_differences_and_is_non_negative(problem: TableShardingProblem) -> None:
    interface = problem.surrogate_interface()
    rng = np.random.default_rng(2)
    x = rng.random(interface.shape)
    for temperature in (0.0, 5.0):
        _, grad = interface.relaxed_objective(x, temperature=temperature)
        assert (grad >= 0).all()
        step = 1e-6
        numeric = np.zeros_like(x)
        for t in range(x.shape[0]):
            for d in range(x.shape[1]):
                up, down = x.copy(), x.copy()
                up[t, d] += step
                down[t, d] -= step
                numeric[t, d] = (
                    interface.relaxed_objective(up, temperature=temperature)[0]
                    - interface.relaxed_objective(down, temperature=temperature)[0]
                ) / (2 * step)
        assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-5 * float(np.abs(grad).max()))


def test_render_draws_the_calibrated_model(problem: TableShardingProblem) -> None:
    design = {"assign": {t.name: k % 3 for k, t in enumerate(problem.instance.tables)}}
    (artifact,) = problem.render(design)
    assert artifact.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["no-such-calibration", "../cpu-small", "/etc/passwd", "a/b"])
def test_unknown_or_path_like_calibration_is_a_spec_error(name: str) -> None:
    data = generate(1, 4, 2).model_dump(mode="json")
    data["calibration"] = name
    with pytest.raises(SpecError) as info:
        TableShardingProblem.parse_instance(data)
    pointers = [e.pointer for e in info.value.errors]
    assert pointers == ["/calibration"]
    assert name in info.value.errors[0].message


def test_user_calibrations_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SHIPPED_DIR / "cpu-small.json", tmp_path / "mine.json")
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    document = json.loads((SHIPPED_DIR / "cpu-small.json").read_text(encoding="utf-8"))
    document["rho"][0]["weight"][0][0] = -1.0
    (tmp_path / "negative.json").write_text(json.dumps(document), encoding="utf-8")
    data = generate(1, 4, 2).model_dump(mode="json")
    with pytest.raises(SpecError, match="DESIGNSVC_CALIBRATIONS"):
        TableShardingProblem.parse_instance({**data, "calibration": "mine"})
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    problem = TableShardingProblem(TableShardingProblem.parse_instance({**data, "calibration": "mine"}))
    assert isinstance(problem.cost_model, CalibratedCostModel)
    assert "mine" in available_calibrations()
    for bad, words in (("broken", "not valid JSON"), ("negative", "non-negative")):
        with pytest.raises(SpecError) as info:
            TableShardingProblem.parse_instance({**data, "calibration": bad})
        assert info.value.errors[0].pointer == "/calibration"
        assert "broken" in info.value.errors[0].message
        assert words in info.value.errors[0].message
