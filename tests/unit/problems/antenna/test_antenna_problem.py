"""The ``antenna@1`` problem kind: schema errors, evaluation, baselines, generator, artifacts."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from designsvc.core.errors import SpecError
from designsvc.core.plugins import PROBLEMS
from problems.antenna import AntennaProblem
from problems.antenna.baselines import differential_evolution_search
from problems.antenna.families import Family
from problems.antenna.generate import BUILTIN_INSTANCES, generate_with_witness

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

BASE: dict[str, Any] = {
    "family": "three-branch-monopole",
    "sweep": {"start_mhz": 1500, "stop_mhz": 3500, "points": 41},
    "target": {"bands": [{"start_mhz": 2400, "stop_mhz": 2500, "max_s11_db": -10}]},
}


def errors_of(data: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        AntennaProblem.parse_instance(data)
    return {e.pointer: e.message for e in info.value.errors}


def with_changes(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def test_registered_and_parses() -> None:
    assert PROBLEMS.load("antenna@1") is AntennaProblem
    instance = AntennaProblem.parse_instance(BASE)
    assert instance.family is Family.THREE_BRANCH
    assert instance.reference_impedance_ohm == 50.0


def test_band_outside_the_sweep_is_an_error_with_a_pointer() -> None:
    errors = errors_of(with_changes(target={"bands": [{"start_mhz": 3400, "stop_mhz": 3600}]}))
    assert "/target/bands/0/stop_mhz" in errors
    assert "outside the sweep" in errors["/target/bands/0/stop_mhz"]
    errors = errors_of(
        with_changes(
            target={
                "bands": [{"start_mhz": 2000, "stop_mhz": 2100}],
                "reject_bands": [{"start_mhz": 1000, "stop_mhz": 1600}],
            }
        )
    )
    assert "/target/reject_bands/0/start_mhz" in errors


def test_band_between_sweep_points_is_an_error() -> None:
    errors = errors_of(with_changes(target={"bands": [{"start_mhz": 2410, "stop_mhz": 2440}]}))
    assert "holds no sweep point" in errors["/target/bands/0"]


def test_schema_level_errors_have_pointers() -> None:
    errors = errors_of(with_changes(sweep={"start_mhz": 3000, "stop_mhz": 1000}))
    assert any(p.startswith("/sweep") for p in errors)
    errors = errors_of(with_changes(target={"bands": [{"start_mhz": 2400, "stop_mhz": 2500, "max_s11_db": 3}]}))
    assert "/target/bands/0/max_s11_db" in errors
    assert "/family" in errors_of(with_changes(family="yagi"))


def test_bounds_errors_name_the_parameter() -> None:
    errors = errors_of(with_changes(bounds={"z1_mm": [0.01, 5.0]}))
    assert "/bounds/z1_mm/0" in errors
    assert "z1_mm" in errors["/bounds/z1_mm/0"]
    assert "allowed range" in errors["/bounds/z1_mm/0"]
    errors = errors_of(with_changes(bounds={"arm9_mm": [1.0, 5.0]}))
    assert "no parameter 'arm9_mm'" in errors["/bounds/arm9_mm"]
    errors = errors_of(with_changes(bounds={"arm1_mm": [9.0, 5.0]}))
    assert "arm1_mm: lower bound 9" in errors["/bounds/arm1_mm"]


def test_an_empty_design_space_is_an_error() -> None:
    errors = errors_of(with_changes(bounds={"z3_mm": [40.0, 50.0]}))
    assert any("box_height" in m for m in errors.values()), errors
    errors = errors_of(with_changes(min_spacing_mm=0.5))
    assert "/min_spacing_mm" in errors  # under 4 wire radii (0.25 mm radius)


def test_reference_design_is_checked() -> None:
    errors = errors_of(with_changes(reference={"z1_mm": 3.0}))
    assert "lacks" in errors["/reference"]


def test_evaluate_meets_an_easy_target_with_zero_shortfall() -> None:
    instance, witness = generate_with_witness(3, family=Family.MEANDER)
    problem = AntennaProblem(instance)
    evaluation = problem.evaluate(witness)
    assert evaluation.feasible
    assert evaluation.objective == 0.0
    assert evaluation.breakdown["target_met"] == 1.0
    assert evaluation.breakdown["band1_worst_s11_db"] <= instance.target.bands[0].max_s11_db
    band = instance.target.bands[0]
    assert instance.sweep.start_mhz <= band.start_mhz <= band.stop_mhz <= instance.sweep.stop_mhz


def test_evaluate_reports_violations_and_malformed_designs_without_simulating() -> None:
    problem = AntennaProblem(AntennaProblem.parse_instance(BASE))
    centre = problem.baselines()["centre"](0)
    bad = copy.deepcopy(centre)
    bad["params"]["rise1_mm"] = 50.0
    evaluation = problem.evaluate(bad)
    assert not evaluation.feasible
    assert any("rise1_mm" in line for line in evaluation.violations)
    assert evaluation.objective == 10.0  # total reflection against a -10 dB band
    for malformed in ({"params": {"z1_mm": 3.0}}, {"solid": []}, [], {"params": {**centre["params"], "z1_mm": "x"}}):
        result = problem.evaluate(malformed)  # type: ignore[arg-type]
        assert not result.feasible
        assert result.violations


def test_centre_design_is_feasible_and_simulated() -> None:
    problem = AntennaProblem(AntennaProblem.parse_instance(BASE))
    evaluation = problem.evaluate(problem.baselines()["centre"](0))
    assert evaluation.feasible
    assert evaluation.objective > 0
    assert 1500 <= evaluation.breakdown["resonance_mhz"] <= 3500


def test_differential_evolution_meets_a_generated_target_and_counts_calls() -> None:
    instance, _ = generate_with_witness(3, family=Family.MEANDER)
    result = differential_evolution_search(instance, budget=60, seed=0)
    assert 1 <= result.nec_calls <= 60
    assert result.met
    assert result.shortfall_db == 0.0
    assert AntennaProblem(instance).evaluate(result.design).objective == 0.0
    empty = differential_evolution_search(instance, budget=0, seed=0)
    assert empty.nec_calls == 0
    assert not empty.met


def test_generator_is_seeded() -> None:
    first = AntennaProblem.generate(seed=3, family=1)
    assert first == AntennaProblem.generate(seed=3, family=1)
    assert first.family is Family.MEANDER
    with pytest.raises(ValueError, match="unknown size"):
        AntennaProblem.generate(seed=0, items=3)


def test_builtins_are_valid_and_the_example_resolves() -> None:
    assert "three-branch-2g4" in BUILTIN_INSTANCES
    for name in ("three-branch-2g4", "three-branch-2g4-reject"):
        AntennaProblem.check_instance(BUILTIN_INSTANCES[name]())
    spec = AntennaProblem.example_spec()
    assert spec["problem"] == "antenna@1"
    assert spec["instance_ref"] == "builtin:three-branch-2g4"


def test_render_gives_touchstone_plot_and_geometry() -> None:
    problem = AntennaProblem(AntennaProblem.parse_instance(BASE))
    artifacts = {a.name: a for a in problem.render(problem.baselines()["centre"](0))}
    assert set(artifacts) == {"s11.s1p", "s11.png", "geometry.svg"}
    assert artifacts["s11.png"].data.startswith(PNG_MAGIC)
    assert b"<svg" in artifacts["geometry.svg"].data
    lines = [ln for ln in artifacts["s11.s1p"].data.decode().splitlines() if ln and not ln.startswith("!")]
    assert lines[0].upper().startswith("# HZ S RI R 50")
    assert len(lines) == 1 + 41
    values = np.array([float(v) for v in lines[1].split()])
    assert values[0] == pytest.approx(1.5e9)
