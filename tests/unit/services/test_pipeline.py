"""run_job end to end on assignment@1: result document, baselines, proposer, errors, cancel."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from designsvc.core.cancel import CancelToken
from designsvc.core.errors import SpecError
from designsvc.core.modelinfo import model_size
from designsvc.core.types import JsonDict
from designsvc.services.pipeline import relative_improvement, run_job
from designsvc.services.validation import resolve_spec, validate_spec

SMALL: dict[str, Any] = {
    "problem": "assignment@1",
    "instance_ref": "builtin:gap-10x3",
    "limits": {"time_limit_s": 20, "rel_gap": 0},
    "render": False,
}


def _infeasible_instance() -> JsonDict:
    # Two items of size 3 each and one bin of capacity 4: no assignment fits.
    return {
        "bins": [{"name": "b", "capacity": 4}],
        "items": [{"name": "i", "sizes": [3], "costs": [1]}, {"name": "j", "sizes": [3], "costs": [1]}],
    }


def _pointers(spec: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        run_job(spec)
    return [e.pointer for e in info.value.errors]


def test_result_document_has_the_public_fields() -> None:
    events: list[JsonDict] = []
    out = run_job(SMALL, on_event=events.append)
    result = out.result
    for key in (
        "id",
        "status",
        "outcome",
        "objective",
        "bound",
        "gap",
        "design",
        "evaluation",
        "timings",
        "provenance",
    ):
        assert key in result, key
    assert result["status"] == "succeeded"
    assert result["outcome"] == {"termination": "optimal", "solution_status": "optimal"}
    assert result["evaluation"]["feasible"]
    # The solver's linear objective is the evaluator's total cost.
    assert result["objective"] == pytest.approx(result["evaluation"]["objective"])
    assert result["gap"] == pytest.approx(0.0, abs=1e-9)
    assert set(result["timings"]) >= {"build_s", "propose_s", "solve_s", "evaluate_s", "total_s"}
    assert result["provenance"]["solver"] == "highs"
    assert result["provenance"]["seed"] == 0
    assert len(result["provenance"]["spec_sha256"]) == 64
    assert [e["stage"] for e in events if e["type"] == "stage"][-1] == "done"
    json.dumps(result)  # JSON-ready


def test_compare_baselines_reports_each_baseline() -> None:
    result = run_job({**SMALL, "compare_baselines": True}).result
    rows = {row["baseline"]: row for row in result["comparison"]}
    assert set(rows) == {"greedy-cost", "first-fit", "random-fit"}
    for row in rows.values():
        if row["feasible"]:
            # The optimum is never worse than a feasible heuristic design.
            assert row["improvement"] is not None
            assert row["improvement"] >= -1e-9
            assert row["objective"] >= result["evaluation"]["objective"] - 1e-6
            assert row["difference"] == pytest.approx(row["objective"] - result["evaluation"]["objective"])


def test_relative_improvement_has_no_figure_against_a_zero_objective() -> None:
    assert relative_improvement(10.0, 8.0) == pytest.approx(0.2)
    assert relative_improvement(-10.0, -12.0) == pytest.approx(0.2)
    assert relative_improvement(0.0, 0.0) == 0.0
    assert relative_improvement(0.0, 0.5) is None  # a loss the baseline met: no relative figure


def test_render_produces_artifacts_listed_in_the_result() -> None:
    out = run_job({**SMALL, "render": True})
    assert [a["name"] for a in out.result["artifacts"]] == [a.name for a in out.artifacts]
    assert out.artifacts
    assert out.artifacts[0].data.startswith(b"\x89PNG")
    assert out.result["artifacts"][0]["size_bytes"] == len(out.artifacts[0].data)


@pytest.mark.parametrize("solver", ["highs", "cpsat", "scip"])
def test_proposer_warm_start_reaches_the_same_optimum(solver: str) -> None:
    plain = run_job({**SMALL, "solver": {"name": solver}}).result
    warm = run_job({**SMALL, "solver": {"name": solver}, "proposer": {"name": "baseline-start"}}).result
    assert warm["status"] == "succeeded"
    assert warm["proposer"]["name"] == "baseline-start"
    assert warm["proposer"]["asked"] == 1
    assert warm["proposer"]["baseline_start"]["start"] is not None
    assert warm["evaluation"]["objective"] == pytest.approx(plain["evaluation"]["objective"])


def test_infeasible_instance_is_a_result() -> None:
    result = run_job({**SMALL, "instance_ref": None, "instance": _infeasible_instance()}).result
    assert result["status"] == "succeeded"
    assert result["outcome"]["termination"] == "infeasible"
    assert result["outcome"]["solution_status"] == "none"
    assert result["design"] is None


def test_generated_instance_reference() -> None:
    result = run_job({**SMALL, "instance_ref": "generate:seed=3,items=12,bins=3"}).result
    assert len(result["design"]["assignment"]) == 12


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ({"problem": "no-such-kind@1"}, "/problem"),
        ({"solver": {"name": "gurobi"}}, "/solver/name"),
        ({"solver": {"name": "highs", "options": {"no_such": 1}}}, "/solver/options/no_such"),
        ({"solver": {"name": "highs", "options": {"time_limit": "soon"}}}, "/solver/options/time_limit"),
        ({"proposer": {"name": "nope"}}, "/proposer/name"),
        ({"proposer": {"name": "baseline-start", "options": {"x": 1}}}, "/proposer/options/x"),
        ({"instance_ref": "builtin:nope"}, "/instance_ref"),
        ({"instance_ref": "file:/etc/passwd"}, "/instance_ref"),
        ({"limits": {"time_limit_s": 0}}, "/limits/time_limit_s"),
    ],
)
def test_bad_specs_are_refused_with_pointers(patch: JsonDict, pointer: str) -> None:
    assert pointer in _pointers({**SMALL, **patch})


def test_instance_errors_are_prefixed_with_instance() -> None:
    instance = _infeasible_instance()
    instance["items"][1]["sizes"] = [3, 4]
    pointers = _pointers({**SMALL, "instance_ref": None, "instance": instance})
    assert any(p.startswith("/instance/items/1") for p in pointers), pointers


def test_cpsat_refuses_coefficients_without_exact_scaling() -> None:
    instance = _infeasible_instance()
    instance["bins"][0]["capacity"] = 100
    instance["items"][0]["sizes"] = [0.1 + 0.2]  # 0.30000000000000004: no p/q with q <= 1e9 rounds to it
    assert _pointers({**SMALL, "instance_ref": None, "instance": instance, "solver": {"name": "cpsat"}}) == [
        "/solver/name"
    ]


def test_validation_builds_the_model_and_counts_it() -> None:
    job = resolve_spec(SMALL)
    size = model_size(job.problem.build_model())
    assert size["variables"] == 30
    assert size["integer_variables"] == 30
    assert size["constraints"] == 13


def test_cancel_returns_a_canceled_job_with_the_best_design() -> None:
    spec = {**SMALL, "instance_ref": "generate:seed=1,items=400,bins=20", "limits": {"time_limit_s": 120, "rel_gap": 0}}
    token = CancelToken()
    solving = threading.Event()

    def on_event(event: JsonDict) -> None:
        if event.get("stage") == "solve":
            solving.set()

    threading.Thread(target=lambda: solving.wait(60) and (token.cancel() or True), daemon=True).start()
    result = run_job(spec, on_event=on_event, cancel_token=token).result
    assert result["status"] == "canceled"
    assert result["outcome"]["termination"] in {"interrupted", "optimal"}
    assert result["timings"]["total_s"] < 60


def test_validate_spec_reports_size_and_checks_the_solver() -> None:
    report = validate_spec({**SMALL, "solver": {"name": "cpsat"}})
    assert report["valid"]
    assert report["model"]["variables"] == 30
    instance = _infeasible_instance()
    instance["items"][0]["sizes"] = [0.1 + 0.2]
    spec = {**SMALL, "instance_ref": None, "instance": instance, "solver": {"name": "cpsat"}}
    with pytest.raises(SpecError, match="cannot take this model") as info:
        validate_spec(spec)
    assert info.value.errors[0].pointer == "/solver/name"
