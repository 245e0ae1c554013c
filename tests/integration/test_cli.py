"""The designsvc command end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

DESIGNSVC = str(Path(sys.executable).with_name("designsvc"))


def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DESIGNSVC, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def example_spec(tmp_path: Path) -> Path:
    proc = run("example", "assignment@1")
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(proc.stdout)
    spec["limits"]["time_limit_s"] = 20
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def write(tmp_path: Path, spec: Any, name: str = "spec.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec) if not isinstance(spec, str) else spec)
    return path


def test_solve_json_prints_exactly_the_result_document(example_spec: Path, tmp_path: Path) -> None:
    proc = run("solve", str(example_spec), "--json", "--artifacts", str(tmp_path / "art"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # nothing else on stdout, not even a native banner
    assert result["status"] == "succeeded"
    assert result["outcome"]["termination"] == "optimal"
    assert result["evaluation"]["feasible"]
    assert {row["baseline"] for row in result["comparison"]} == {"greedy-cost", "first-fit", "random-fit"}
    for artifact in result["artifacts"]:
        assert (tmp_path / "art" / artifact["name"]).stat().st_size == artifact["size_bytes"]


def test_solve_human_summary_and_overrides(example_spec: Path) -> None:
    proc = run("solve", str(example_spec), "--solver", "cpsat", "--time-limit", "15", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout
    assert "cpsat" in proc.stdout
    assert "baseline   greedy-cost" in proc.stdout


@pytest.mark.parametrize("solver", ["highs", "cpsat", "scip"])
def test_each_solver_and_the_proposer_through_the_cli(example_spec: Path, solver: str) -> None:
    proc = run("solve", str(example_spec), "--solver", solver, "--proposer", "baseline-start", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["spec"]["solver"]["name"] == solver
    assert result["proposer"]["name"] == "baseline-start"
    assert result["evaluation"]["feasible"]


def test_yaml_spec_and_stdin(tmp_path: Path) -> None:
    path = write(
        tmp_path, "problem: assignment@1\ninstance_ref: builtin:gap-10x3\nlimits: {time_limit_s: 10}\n", "s.yaml"
    )
    assert run("solve", str(path), "--json").returncode == 0
    proc = run("solve", "-", "--json", stdin=json.dumps({"problem": "assignment", "instance_ref": "builtin:gap-10x3"}))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["problem"] == "assignment@1"


@pytest.mark.parametrize(
    ("spec", "args", "expected"),
    [
        ({"problem": "nope@1", "instance_ref": "builtin:gap-10x3"}, [], "error: /problem: unknown problem kind"),
        (
            {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3"},
            ["--solver", "gurobi"],
            "error: /solver/name",
        ),
        (
            {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3"},
            ["--time-limit", "0"],
            "error: /limits/time_limit_s",
        ),
        (
            {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3"},
            ["--time-limit", "-1"],
            "error: /limits/time_limit_s",
        ),
        ({"problem": "assignment@1", "instance": {"bins": [], "items": []}}, [], "error: /instance/"),
        (
            {
                "problem": "assignment@1",
                "instance": {
                    "bins": [{"name": "b", "capacity": 9}],
                    "items": [{"name": "i", "sizes": [0.30000000000000004], "costs": [1]}],
                },
            },
            ["--solver", "cpsat"],
            "error: /solver/name: solver cpsat cannot take this model",
        ),
    ],
)
def test_bad_input_is_one_line_per_field_and_exit_2(tmp_path: Path, spec: Any, args: list[str], expected: str) -> None:
    proc = run("solve", str(write(tmp_path, spec)), *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    proc = run("solve", str(tmp_path / "missing.json"))
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr
    proc = run("solve", str(write(tmp_path, "{not json")))
    assert proc.returncode == 2
    assert "not valid JSON" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_infeasible_instance_is_a_result_not_a_crash(tmp_path: Path) -> None:
    spec = {
        "problem": "assignment@1",
        "instance": {
            "bins": [{"name": "b", "capacity": 4}],
            "items": [{"name": "i", "sizes": [3], "costs": [1]}, {"name": "j", "sizes": [3], "costs": [1]}],
        },
    }
    for solver in ("highs", "cpsat", "scip"):
        proc = run("solve", str(write(tmp_path, spec)), "--json", "--solver", solver)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["outcome"]["termination"] == "infeasible"


def test_validate_reports_model_size(example_spec: Path, tmp_path: Path) -> None:
    proc = run("validate", str(example_spec), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"]["variables"] == 200
    proc = run("validate", str(write(tmp_path, {"problem": "assignment@1"}, "bad.json")))
    assert proc.returncode == 2
    assert "error: /instance:" in proc.stderr


def test_problems_and_solvers_listings() -> None:
    problems = json.loads(run("problems", "--json").stdout)
    assert "assignment@1" in [p["id"] for p in problems]
    solvers = {s["name"]: s for s in json.loads(run("solvers", "--json").stdout)}
    assert set(solvers) >= {"highs", "cpsat", "scip"}
    for row in solvers.values():
        assert row["available"]
        assert row["version"]
        assert set(row["capabilities"]) >= {"integer", "continuous", "warm_start", "cancel", "progress"}
    text = run("solvers").stdout
    assert "highs" in text
    assert "available" in text


def test_example_for_unknown_kind_fails() -> None:
    proc = run("example", "nope@3")
    assert proc.returncode == 2
    assert "unknown problem kind" in proc.stderr


def test_validate_checks_that_the_solver_can_take_the_model(tmp_path: Path) -> None:
    spec = {
        "problem": "assignment@1",
        "solver": {"name": "cpsat"},
        "instance": {
            "bins": [{"name": "b", "capacity": 9}],
            "items": [{"name": "i", "sizes": [0.1 + 0.2], "costs": [1]}],
        },
    }
    proc = run("validate", str(write(tmp_path, spec)))
    assert proc.returncode == 2
    assert "error: /solver/name: solver cpsat cannot take this model" in proc.stderr
    spec["solver"] = {"name": "highs"}
    proc = run("validate", str(write(tmp_path, spec)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("valid: assignment@1, solver highs; model with 1 variables")


def test_ctrl_c_cancels_the_solve_and_keeps_the_best_design(tmp_path: Path) -> None:
    spec = {
        "problem": "assignment@1",
        "instance_ref": "generate:seed=1,items=400,bins=20",
        "limits": {"time_limit_s": 120, "rel_gap": 0},
        "render": False,
    }
    # A shell starts background commands with SIGINT ignored, and children inherit that;
    # a terminal's Ctrl-C reaches a process with the default handler: restore it, then exec.
    restore_sigint = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", restore_sigint, DESIGNSVC, "solve", str(write(tmp_path, spec))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # imports, model build, and a first design
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15
    assert proc.returncode == 1, stderr
    assert "canceled" in stdout
    assert "interrupted / feasible" in stdout
    assert "evaluation feasible" in stdout
    assert "Traceback" not in stderr


def test_import_topology_writes_a_ready_spec(tmp_path: Path) -> None:
    graphml = Path(__file__).resolve().parents[2] / "problems" / "network_planning" / "data" / "Abilene.graphml"
    proc = run("import-topology", str(graphml), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    spec = json.loads(proc.stdout)
    assert spec["problem"] == "network-planning@1"
    assert spec["instance"]["name"].startswith("topologyzoo:Abilene")
    assert "instance_ref" not in spec
    path = write(tmp_path, spec)
    proc = run("validate", str(path))
    assert proc.returncode == 0, proc.stderr
    # Unknown format, missing file, and a kind that imports nothing: one-line errors, exit 2.
    for args, expected in [
        (["import-topology", str(graphml), "--format", "pajek"], "cannot import the format 'pajek'"),
        (["import-topology", str(tmp_path / "nope.graphml")], "no such file"),
        (["import-topology", str(graphml), "--problem", "assignment"], "imports: none"),
    ]:
        proc = run(*args)
        assert proc.returncode == 2
        assert expected in proc.stderr
        assert proc.stdout == ""


def test_train_writes_a_checkpoint_that_solve_uses(tmp_path: Path) -> None:
    ckpt = tmp_path / "np.pt"
    proc = run(
        "train", "neuroplan", "-i", "builtin:ring-5", "-i", "generate:seed=3,nodes=6",
        "-o", "iterations=2", "-o", "steps_per_iteration=32", "--out", str(ckpt), "--json",
        "--artifacts", str(tmp_path / "art"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["kind"] == "training"
    assert result["metrics"]["iterations"] == 2
    import hashlib

    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == result["checkpoint"]["sha256"]
    assert (tmp_path / "art" / "neuroplan-training.png").is_file()
    spec = json.loads(run("example", "network-planning@1").stdout)
    spec["proposer"] = {"name": "neuroplan", "options": {"checkpoint": str(ckpt)}}
    solved = run("solve", str(write(tmp_path, spec)), "--compare-baselines")
    assert solved.returncode == 0, solved.stderr
    assert f"checkpoint sha256 {result['checkpoint']['sha256']}" in solved.stdout
    assert "greedy-shortfall" in solved.stdout


def test_train_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    proc = run("train", "neuroplan")
    assert proc.returncode == 2
    assert "--instance" in proc.stderr
    proc = run("train", "neuroplan", "-i", "builtin:nope")
    assert proc.returncode == 2
    assert "/instances/0" in proc.stderr
    proc = run("train", "neuroplan", "-i", "builtin:ring-5", "-o", "iterations=-1")
    assert proc.returncode == 2
    assert "/train/options/iterations" in proc.stderr
    proc = run("train", "nope", "-i", "builtin:ring-5")
    assert proc.returncode == 2
    assert "nope" in proc.stderr
