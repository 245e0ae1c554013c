"""Unit tests of the ``photonics@1`` problem kind."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from designsvc.core.errors import SpecError
from designsvc.core.plugins import PROBLEMS, SOLVERS
from designsvc.core.types import SolverConfig, Termination
from problems.photonics import PhotonicsInstance, PhotonicsProblem
from problems.photonics.baselines import straight_path, topology_optimization
from problems.photonics.brush import OUTSIDE, check_brush, fixed_frame, open_close_projection
from problems.photonics.devices import brush_mask, device_setup
from problems.photonics.evaluate import design_from_solid
from problems.photonics.generate import BUILTIN_INSTANCES, generate
from problems.photonics.schema import MAX_MODEL_TERMS, BrushShape, Device
from problems.testing import check_problem

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SQUARE2 = np.ones((2, 2), dtype=bool)


def tiny_problem(seed: int = 0, **overrides: Any) -> PhotonicsProblem:
    """A lightweight bend with a 400 nm design region (10 x 10 pixels) and a 2-pixel brush."""
    data: dict[str, Any] = {
        "name": f"tiny-{seed}",
        "device": "waveguide-bend",
        "geometry": {"design_width_nm": 400.0, "design_height_nm": 400.0, "wg_width_nm": 160.0},
        "brush": {"diameter_px": 2},
        "baseline_iterations": 2,
    }
    data.update(overrides)
    return PhotonicsProblem(PhotonicsProblem.parse_instance(data))


def errors_of(data: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        PhotonicsProblem.parse_instance(data)
    return {e.pointer: e.message for e in info.value.errors}


def void_frame(rows: int, cols: int, margin: int) -> np.ndarray:
    return np.zeros((rows + 2 * margin, cols + 2 * margin), dtype=np.int64)


def solid_grid(rows: int, cols: int, cells: list[tuple[int, int]]) -> np.ndarray:
    grid = np.zeros((rows, cols), dtype=bool)
    for r, c in cells:
        grid[r, c] = True
    return grid


# ----------------------------------------------------------------------------- brush checker


def test_brush_masks() -> None:
    assert brush_mask(3).all()  # a 3-pixel disk is the full square
    disk5 = brush_mask(5)
    assert disk5.sum() == 21
    assert not disk5[0, 0]
    assert disk5[0, 2]
    assert disk5[2, 2]
    assert brush_mask(4, BrushShape.SQUARE).sum() == 16
    assert (brush_mask(6) == brush_mask(6).T).all()


def test_checker_accepts_hand_made_feasible_grids() -> None:
    frame = void_frame(6, 6, 1)
    assert check_brush(frame, np.zeros((6, 6), dtype=bool), SQUARE2).feasible  # all void
    block = solid_grid(6, 6, [(2, 2), (2, 3), (3, 2), (3, 3)])
    assert check_brush(frame, block, SQUARE2).feasible
    l_shape = block.copy()
    l_shape[2:4, 0:4] = True
    l_shape[0:4, 2:4] = True
    assert check_brush(frame, l_shape, SQUARE2).feasible
    # Two blocks two pixels apart: the gap is exactly one brush wide.
    apart = np.zeros((6, 6), dtype=bool)
    apart[0:2, 0:2] = True
    apart[4:6, 0:2] = True
    assert check_brush(frame, apart, SQUARE2).feasible


def test_checker_refuses_hand_made_infeasible_grids() -> None:
    frame = void_frame(6, 6, 1)
    lone = solid_grid(6, 6, [(3, 3)])
    check = check_brush(frame, lone, SQUARE2)
    assert not check.feasible
    assert check.bad_solid.sum() == 1
    assert check.bad_solid[3, 3]
    assert not check.bad_void.any()
    # A one-pixel-wide line: too narrow.
    line = np.zeros((6, 6), dtype=bool)
    line[:, 2] = True
    assert check_brush(frame, line, SQUARE2).bad_solid[:, 2].all()
    # Two blocks one pixel apart: the gap is too narrow (spacing rule, void side).
    gap = np.zeros((6, 6), dtype=bool)
    gap[0:2, 0:2] = True
    gap[3:5, 0:2] = True
    check = check_brush(frame, gap, SQUARE2)
    assert not check.bad_solid.any()
    assert check.bad_void[2, 0]
    assert check.bad_void[2, 1]
    assert check.bad_void.sum() == 2
    # A one-pixel hole in solid.
    holed = np.ones((6, 6), dtype=bool)
    holed[3, 3] = False
    solid_frame = np.ones((8, 8), dtype=np.int64)
    check = check_brush(solid_frame, holed, SQUARE2)
    assert check.bad_void[3, 3]
    assert check.bad_void.sum() == 1


def test_checker_sees_the_fixed_pixels_around_the_region() -> None:
    # A fixed solid waveguide ending at the region's left edge (rows 2-3 of the frame).
    frame = void_frame(6, 6, 1)
    frame[0, 3:5] = 1  # margin column 0 (padded), region columns 2-3
    design = solid_grid(6, 6, [(0, 2)])
    # Transposed picture: padded row 0 is the margin above region row 0.
    assert check_brush(frame, solid_grid(6, 6, [(0, 2), (0, 3)]), SQUARE2).feasible
    assert not check_brush(frame, design, SQUARE2).feasible  # (0, 2) alone: its placement needs (0, 3) or (0, 1)
    # Beyond the grid nothing may be drawn: a pixel at the edge needs room inside.
    outside = np.full((8, 8), OUTSIDE, dtype=np.int64)
    outside[1:7, 1:7] = 0
    assert check_brush(outside, np.zeros((6, 6), dtype=bool), SQUARE2).feasible
    corner = solid_grid(6, 6, [(0, 0), (0, 1), (1, 0), (1, 1)])
    assert check_brush(outside, corner, SQUARE2).feasible


def test_open_close_projection_repairs_a_noisy_grid() -> None:
    rng = np.random.default_rng(3)
    frame = void_frame(12, 12, 2)
    brush = brush_mask(3)
    noisy = rng.random((12, 12)) < 0.5
    repaired = open_close_projection(frame, noisy, brush, rounds=8)
    assert check_brush(frame, repaired, brush).feasible


# ----------------------------------------------------------------------------- model <-> checker


def _model_accepts(problem: PhotonicsProblem, solid: np.ndarray) -> bool:
    model = problem.build_model()
    rows, cols = problem.setup.design_shape
    for p, value in enumerate(solid.ravel().tolist()):
        model.x[p].fix(1 if value else 0)
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=20))
    assert result.termination in (Termination.OPTIMAL, Termination.INFEASIBLE), result
    del rows, cols
    return result.has_solution


def test_model_and_checker_agree_on_hand_made_and_random_grids() -> None:
    problem = tiny_problem()
    setup = problem.setup
    frame = fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1)
    rows, cols = setup.design_shape
    rng = np.random.default_rng(0)
    grids = [
        np.zeros((rows, cols), dtype=bool),
        straight_path(setup, Device.WAVEGUIDE_BEND),
        solid_grid(rows, cols, [(5, 5)]),
    ]
    for _ in range(4):
        noisy = rng.random((rows, cols)) < 0.5
        grids.extend([noisy, open_close_projection(frame, noisy, setup.brush, rounds=2)])
    verdicts = []
    for grid in grids:
        expected = check_brush(frame, grid, setup.brush).feasible
        assert _model_accepts(problem, grid) == expected
        verdicts.append(expected)
    assert any(verdicts)
    assert not all(verdicts)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_solver_designs_obey_the_brush_for_random_costs(seed: int) -> None:
    problem = tiny_problem(seed)
    rows, cols = problem.setup.design_shape
    costs = np.random.default_rng(seed).integers(-9, 10, size=(rows, cols))
    model = problem.build_model(fixed={"costs": costs.tolist()})
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=10))
    assert result.has_solution
    design = problem.extract_design(model)
    setup = problem.setup
    frame = fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1)
    assert check_brush(frame, np.array(design["solid"], dtype=bool), setup.brush).feasible
    solid = np.array(design["solid"], dtype=float)
    assert result.objective == pytest.approx(float((costs * solid).sum()))


def test_cpsat_takes_the_model_too() -> None:
    problem = tiny_problem(5)
    rows, cols = problem.setup.design_shape
    costs = np.random.default_rng(5).integers(-9, 10, size=(rows, cols))
    model = problem.build_model(fixed={"costs": costs.tolist()})
    result = SOLVERS.load("cpsat")().solve(model, SolverConfig(time_limit_s=10, threads=1))
    assert result.has_solution
    assert problem.evaluate(problem.extract_design(model)).feasible


def test_target_gives_the_nearest_feasible_design() -> None:
    problem = tiny_problem()
    setup = problem.setup
    target = straight_path(setup, Device.WAVEGUIDE_BEND)
    target[5, 5] = not target[5, 5]  # a lone pixel the brush cannot draw
    model = problem.build_model(fixed={"target": target.astype(int).tolist()})
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=20))
    assert result.termination is Termination.OPTIMAL
    design = np.array(problem.extract_design(model)["solid"], dtype=bool)
    assert (design != target).sum() >= 1
    frame = fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1)
    assert check_brush(frame, design, setup.brush).feasible


def test_fixed_is_checked() -> None:
    problem = tiny_problem()
    with pytest.raises(ValueError, match="rows"):
        problem.build_model(fixed={"costs": [[1.0]]})
    rows, cols = problem.setup.design_shape
    with pytest.raises(ValueError, match="0 or 1"):
        problem.build_model(fixed={"target": [[2] * cols] * rows})
    with pytest.raises(ValueError, match="unknown key"):
        problem.build_model(fixed={"pins": {}})


def test_encode_design_round_trips_and_is_a_solution() -> None:
    problem = tiny_problem()
    model = problem.build_model()
    result = SOLVERS.load("highs")().solve(model, SolverConfig(time_limit_s=20))
    assert result.has_solution
    design = problem.extract_design(model)
    fresh = problem.build_model()
    for var, value in problem.encode_design(fresh, design).items():
        var.set_value(value)
    assert problem.extract_design(fresh) == design
    for con in fresh.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(con.body)
        assert con.lower is None or body >= pyo.value(con.lower) - 1e-9
        assert con.upper is None or body <= pyo.value(con.upper) + 1e-9


# ----------------------------------------------------------------------------- simulation


def test_a_straight_waveguide_transmits() -> None:
    instance = PhotonicsProblem.parse_instance({"device": "mode-converter", "geometry": {"output_mode_order": 1}})
    problem = PhotonicsProblem(instance)
    design = design_from_solid(straight_path(problem.setup, Device.MODE_CONVERTER))
    evaluation = problem.evaluate(design)
    assert evaluation.feasible, evaluation.violations
    for wavelength in (1270, 1290):
        assert evaluation.breakdown[f"T21@{wavelength}nm"] >= 0.95
        assert evaluation.breakdown[f"T11@{wavelength}nm"] <= 0.01
    assert evaluation.objective == 0.0
    assert evaluation.breakdown["spec_met"] == 1.0


def test_evaluator_on_known_designs() -> None:
    problem = PhotonicsProblem(BUILTIN_INSTANCES["bend-lightweight-small"]())
    setup = problem.setup
    straight = straight_path(setup, Device.WAVEGUIDE_BEND)
    evaluation = problem.evaluate(design_from_solid(straight))
    assert evaluation.feasible  # an arc of a 10-pixel guide obeys a 3-pixel brush
    assert evaluation.breakdown["spec_met"] == 0.0
    assert 0.5 < evaluation.breakdown["T21@1270nm"] < 10**-0.05  # a tight 600 nm arc loses some light
    shortfall = evaluation.breakdown["T21@1270nm"], evaluation.breakdown["T21@1290nm"]
    expected = sum((10**-0.05 - t) ** 2 for t in shortfall) + sum(
        max(0.0, evaluation.breakdown[f"T11@{w}nm"] - 0.01) ** 2 for w in (1270, 1290)
    )
    assert evaluation.objective == pytest.approx(expected)
    # A lone pixel in void breaks the brush rule.
    speck = straight.copy()
    speck[2, 2] = True
    bad = problem.evaluate(design_from_solid(speck))
    assert not bad.feasible
    assert "minimum feature size" in bad.violations[0]
    assert "(2, 2)" in bad.violations[0]
    assert bad.breakdown["brush_solid_violations"] == 1.0


def test_the_standard_bend_arc_meets_the_spec() -> None:
    problem = PhotonicsProblem(BUILTIN_INSTANCES["bend-lightweight"]())
    evaluation = problem.evaluate(design_from_solid(straight_path(problem.setup, Device.WAVEGUIDE_BEND)))
    assert evaluation.feasible
    assert evaluation.breakdown["spec_met"] == 1.0
    assert evaluation.breakdown["T21@1290nm"] >= 0.9


def test_evaluator_reports_malformed_designs() -> None:
    problem = tiny_problem()
    rows, _ = problem.setup.design_shape
    for design, fragment in [
        ({"solid": [[0, 1]]}, f"{rows} rows"),
        ({"solid": [[2] * rows] * rows}, "must be 0 or 1"),
        ({"assign": {}}, "unknown design field"),
    ]:
        evaluation = problem.evaluate(design)
        assert not evaluation.feasible
        assert fragment in evaluation.violations[0]
        assert evaluation.objective == float(len(problem.setup.windows))


def test_render_draws_a_png() -> None:
    problem = tiny_problem()
    design = design_from_solid(straight_path(problem.setup, Device.WAVEGUIDE_BEND))
    (artifact,) = problem.render(design)
    assert artifact.name == "device-fields.png"
    assert artifact.data.startswith(PNG_MAGIC)


def test_surrogate_interface_matches_the_evaluator_and_its_gradient() -> None:
    problem = tiny_problem()
    view = problem.surrogate_interface()
    rows, cols = problem.setup.design_shape
    assert view.shape == (rows, cols)
    straight = design_from_solid(straight_path(problem.setup, Device.WAVEGUIDE_BEND))
    x = view.decision(straight)
    value, grad = view.relaxed_objective(x)
    assert value == pytest.approx(problem.evaluate(straight).objective, rel=1e-6)
    assert grad.shape == (rows, cols)
    assert np.isfinite(grad).all()
    assert view.design(x) == straight
    assert problem.build_model(fixed=view.costs_fixed(view.initial_costs)) is not None
    # Directional derivative at a grey density against a central difference.
    density = np.full((rows, cols), 0.5)
    direction = np.random.default_rng(1).standard_normal((rows, cols))
    _, g = view.relaxed_objective(density)
    eps = 1e-4
    up, _ = view.relaxed_objective(density + eps * direction)
    down, _ = view.relaxed_objective(density - eps * direction)
    assert float((g * direction).sum()) == pytest.approx((up - down) / (2 * eps), rel=1e-3, abs=1e-7)


@pytest.mark.slow
def test_topology_optimization_beats_the_straight_path() -> None:
    problem = PhotonicsProblem(BUILTIN_INSTANCES["bend-lightweight-small"]())
    setup = problem.setup
    optimized = topology_optimization(setup, 0, iterations=12)
    straight = problem.evaluate(design_from_solid(straight_path(setup, Device.WAVEGUIDE_BEND)))
    result = problem.evaluate(design_from_solid(optimized))
    assert result.objective < straight.objective
    assert result.breakdown["T21@1270nm"] > 0.5
    assert "brush_solid_violations" in result.breakdown  # reported whether or not the rule holds


# ----------------------------------------------------------------------------- schema and instances


def test_bad_input_gives_clear_errors_with_pointers() -> None:
    base = {"device": "waveguide-bend"}
    errors = errors_of({**base, "spec": [{"output_port": 2, "lower": 1.2}]})
    assert "/spec/0/lower" in errors
    errors = errors_of({**base, "spec": [{"output_port": 2, "upper": -0.1}]})
    assert "/spec/0/upper" in errors
    errors = errors_of({**base, "spec": [{"output_port": 2, "lower": 0.9, "upper": 0.5}]})
    assert "above upper" in errors["/spec/0/lower"]
    errors = errors_of({**base, "spec": [{"output_port": 3}]})
    assert "2 ports" in errors["/spec/0/output_port"]
    errors = errors_of({**base, "spec": [{"output_port": 2, "wavelength_nm": 1550}]})
    assert "not simulated" in errors["/spec/0/wavelength_nm"]
    errors = errors_of({**base, "brush": {"diameter_px": 41}})
    assert "larger than the design region (40 x 40 pixels)" in errors["/brush/diameter_px"]
    errors = errors_of({**base, "brush": {"diameter_nm": 2000.0}})
    assert "larger than the design region" in errors["/brush/diameter_nm"]
    errors = errors_of({**base, "resolution": "default", "geometry": {"design_width_nm": 9000.0}})
    assert "grid too large" in errors["/resolution"]
    errors = errors_of({"device": "wdm", "resolution": "default", "geometry": {"design_width_nm": 12000.0}})
    assert "memory limit" in errors["/resolution"]
    errors = errors_of({**base, "geometry": {"wg_separation_nm": 1200.0}})
    assert "has no wg_separation_nm" in errors["/geometry/wg_separation_nm"]
    errors = errors_of({"device": "beam-splitter", "geometry": {"wg_separation_nm": 500.0}})
    assert "/geometry/wg_separation_nm" in errors
    errors = errors_of({**base, "brush": {"diameter_px": 3, "diameter_nm": 120.0}})
    assert "/brush/diameter_nm" in errors
    errors = errors_of({"device": "laser"})
    assert "/device" in errors


def test_the_model_size_limit_names_the_numbers() -> None:
    errors = errors_of({"device": "wdm", "resolution": "default"})
    message = errors["/resolution"]
    assert "640 x 640 pixels" in message
    assert "placement terms" in message
    assert f"{MAX_MODEL_TERMS:,}" in message


@pytest.mark.slow
def test_the_full_size_default_resolution_bend_is_accepted() -> None:
    instance = PhotonicsProblem.parse_instance({"device": "waveguide-bend", "resolution": "default"})
    problem = PhotonicsProblem(instance)
    assert problem.setup.design_shape == (160, 160)
    assert problem.setup.brush_px == 8


def test_every_builtin_and_generated_instance_is_valid_and_deterministic() -> None:
    for name, make in BUILTIN_INSTANCES.items():
        instance = make()
        assert instance.name == name
        PhotonicsProblem.check_instance(instance)
    for seed in range(8):
        instance = PhotonicsProblem.generate(seed=seed)
        assert instance == PhotonicsProblem.generate(seed=seed)
        assert device_setup(instance).brush_px >= 2
    devices = {PhotonicsProblem.generate(seed=0, device=k).device for k in range(4)}
    assert devices == set(Device)
    assert PhotonicsProblem.generate(seed=1, default_resolution=1, design_px=12).resolution.value == "default"
    with pytest.raises(ValueError, match="unknown size"):
        PhotonicsProblem.generate(seed=0, tables=3)
    assert generate(3) == generate(3)


def test_instance_round_trips_through_json() -> None:
    instance = BUILTIN_INSTANCES["wdm-lightweight"]()
    data = copy.deepcopy(instance.model_dump(mode="json"))
    assert PhotonicsProblem.parse_instance(data) == instance
    assert isinstance(instance, PhotonicsInstance)


def test_registered_and_passes_the_checker() -> None:
    assert PROBLEMS.load("photonics@1") is PhotonicsProblem
    check_problem(PhotonicsProblem, tiny_problem().instance)
