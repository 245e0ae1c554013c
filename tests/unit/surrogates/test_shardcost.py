"""Real EmbeddingBag measurements, the DeepSets fit, the sharding-calibration trainer end to
end on a tiny grid, the numpy model agreeing with the torch one, and the CLI commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from designsvc.cli import app
from designsvc.core.cancel import CancelToken
from designsvc.core.plugins import TRAINERS
from problems.table_sharding import neural
from problems.table_sharding.generate import generate
from problems.table_sharding.problem import TableShardingProblem
from surrogates.shardcost import fit as fitmod
from surrogates.shardcost.measure import MeasureConfig, TableSpec, measure_plan, measure_tables
from surrogates.shardcost.trainer import ShardingCalibrationTrainer

TINY = MeasureConfig(batch=128, row_cap=2000, warmup=1, repeats=3)
TINY_OPTIONS = {
    "device": "cpu",
    "samples": 10,
    "max_tables": 3,
    "batch": 64,
    "row_cap": 1000,
    "warmup": 0,
    "repeats": 1,
    "steps": 60,
    "hidden": 8,
    "embed": 4,
    "fit_reserve_s": 0,
}


def test_measure_returns_positive_ms_and_zero_for_no_tables() -> None:
    ms = measure_tables([TableSpec(rows=5000, dim=16, pooling_factor=3.0, zipf_alpha=0.8)], TINY)
    assert 0.0 < ms < 1000.0
    assert measure_tables([], TINY) == 0.0


def test_more_pooling_takes_more_time() -> None:
    config = MeasureConfig(batch=512, row_cap=20_000, warmup=1, repeats=5)
    light = measure_tables([TableSpec(rows=20_000, dim=64, pooling_factor=1.0)], config)
    heavy = measure_tables([TableSpec(rows=20_000, dim=64, pooling_factor=60.0)], config)
    assert heavy > light  # 60x the lookups


def test_min_statistic_measures_and_unknown_statistics_are_refused() -> None:
    table = [TableSpec(rows=5000, dim=32, pooling_factor=8.0)]
    config = MeasureConfig(batch=256, row_cap=5000, warmup=1, repeats=5, statistic="min")
    assert measure_tables(table, config) > 0.0
    with pytest.raises(ValueError, match="statistic must be median or min"):
        measure_tables(table, MeasureConfig(statistic="mean"))


def test_memory_budget_is_enforced() -> None:
    config = MeasureConfig(row_cap=10**6, memory_budget_gb=0.1)
    with pytest.raises(ValueError, match="memory budget"):
        measure_tables([TableSpec(rows=10**6, dim=128, pooling_factor=1.0)], config)


def test_measure_plan_in_process_scales_to_the_batch() -> None:
    groups = [[TableSpec(rows=1000, dim=8, pooling_factor=2.0)], []]
    report = measure_plan(groups, TINY, batch_size=4 * TINY.batch, in_process=True)
    assert report["device_ms"][1] == 0.0
    assert report["device_ms"][0] == pytest.approx(4 * report["measured_ms_at_measure_batch"][0])
    assert report["max_ms"] == report["device_ms"][0]


def test_features_agree_between_trainer_and_numpy_model() -> None:
    assert fitmod.FEATURE_NAMES == neural.FEATURE_NAMES
    assert fitmod.FORMAT == neural.FORMAT
    for table in generate(4, 10, 2).tables:
        ours = neural.table_features(table, 3000)
        theirs = fitmod.table_features(TableSpec.from_mapping(table), 3000)
        assert ours == pytest.approx(theirs)


def test_numpy_model_reproduces_the_torch_network() -> None:
    rng = np.random.default_rng(0)
    pool = [TableSpec.from_mapping(t) for t in generate(2, 8, 2).tables]
    sets = [[pool[i] for i in rng.choice(8, size=int(rng.integers(1, 4)), replace=False)] for _ in range(12)]
    times = [0.1 + sum(t.pooling_factor * t.dim for t in s) / 1000 for s in sets]
    result = fitmod.fit(sets, times, row_cap=500, steps=30, hidden=8, embed=4)
    document = fitmod.export(result, row_cap=500, measure_batch=256, meta={})
    calibration = neural.Calibration.from_document(json.loads(json.dumps(document)))
    instance = generate(2, 8, 2)
    by_spec = {TableSpec.from_mapping(t): t for t in instance.tables}
    model = neural.CalibratedCostModel(calibration, neural.AnalyticCostModel.from_instance(instance))
    for s, predicted in zip(sets, result.predicted_ms, strict=True):
        numpy_ms = model.compute_ms([by_spec[t] for t in s]) / model.batch_scale
        assert numpy_ms == pytest.approx(float(predicted), rel=1e-5)
    # monotone by construction: the torch rho weights are non-negative
    assert (np.asarray(document["rho"][0]["weight"]) >= 0).all()


def test_trainer_end_to_end_on_a_tiny_grid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert TRAINERS.load("sharding-calibration") is ShardingCalibrationTrainer
    problems = [TableShardingProblem(generate(s, 5, 2, memory_gb=1.0)) for s in (1, 2)]
    events: list[dict[str, object]] = []
    ShardingCalibrationTrainer.check_options(TINY_OPTIONS)
    output = ShardingCalibrationTrainer().train(
        problems,
        options=TINY_OPTIONS,
        seed=3,
        time_limit_s=120,
        on_event=events.append,
        cancel_token=CancelToken(),
    )
    assert output.checkpoint.name == "sharding-calibration.json"
    assert len(output.fingerprint) == 64
    assert output.metrics["measurements"] == 10
    assert output.metrics["validation"]["count"] == 2
    assert output.artifacts[0].data.startswith(b"\x89PNG")
    assert sum(1 for e in events if e.get("stage") == "measure") == 10
    document = json.loads(output.checkpoint.data)
    assert document["meta"]["torch"] == torch.__version__
    assert document["meta"]["options"]["batch"] == 64
    (tmp_path / "tiny.json").write_bytes(output.checkpoint.data)
    monkeypatch.setenv(neural.ENV_VAR, str(tmp_path))
    calibrated = TableShardingProblem(problems[0].instance.model_copy(update={"calibration": "tiny"}))
    assert isinstance(calibrated.cost_model, neural.CalibratedCostModel)
    design = {"assign": {t.name: 0 for t in calibrated.instance.tables}}
    assert calibrated.evaluate(design).objective > 0.0


def test_trainer_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="option 'samples'"):
        ShardingCalibrationTrainer.check_options({"samples": 2})
    with pytest.raises(ValueError, match="option 'device'"):
        ShardingCalibrationTrainer.check_options({"device": "tpu"})


def test_measure_entry_point_reports_measured_and_model_ms() -> None:
    problem = TableShardingProblem(generate(1, 4, 2, memory_gb=1.0))
    design = {"assign": {t.name: k % 2 for k, t in enumerate(problem.instance.tables)}}
    options = {"batch": 64, "row_cap": 1000, "warmup": 0, "repeats": 1, "in_process": True}
    report = ShardingCalibrationTrainer.measure(problem, design, options)
    assert [r["tables"] for r in report["devices"]] == [2, 2]
    assert all(r["measured_ms"] > 0 and r["model_ms"] > 0 for r in report["devices"])
    assert report["measured_max_ms"] == max(r["measured_ms"] for r in report["devices"])
    assert report["model_max_ms"] == pytest.approx(problem.evaluate(design).objective)
    with pytest.raises(ValueError, match="unknown table"):
        ShardingCalibrationTrainer.measure(problem, {"assign": {"nope": 0}}, options)


def test_cli_calibrate_on_a_tiny_grid(tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    args = ["calibrate", "sharding", "--device", "cpu", "--samples", "8", "--time-limit", "120"]
    args += ["-i", "generate:seed=1,tables=4,devices=2,memory_gb=1", "--out", str(out)]
    for key, value in TINY_OPTIONS.items():
        if key not in ("device", "samples"):
            args += ["-o", f"{key}={value}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held out" in result.output
    assert "Spearman" in result.output
    neural.Calibration.from_document(json.loads(out.read_text(encoding="utf-8")))


@pytest.mark.integration
def test_cli_measure_in_a_worker_process(tmp_path: Path) -> None:
    spec = {
        "problem": "table-sharding@1",
        "instance_ref": "generate:seed=1,tables=4,devices=2,memory_gb=1",
        "solver": {"name": "highs", "options": {}},
    }
    instance = generate(1, 4, 2, memory_gb=1.0)
    design = {"assign": {t.name: k % 2 for k, t in enumerate(instance.tables)}}
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    (tmp_path / "design.json").write_text(json.dumps({"design": design}), encoding="utf-8")
    command = [sys.executable, "-m", "designsvc.cli", "measure", str(tmp_path / "spec.json")]
    command += ["--design", str(tmp_path / "design.json"), "-o", "batch=64", "-o", "repeats=1", "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert len(report["devices"]) == 2
    assert all(r["measured_ms"] > 0 for r in report["devices"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_measure_on_cuda() -> None:
    config = MeasureConfig(device="cuda", batch=1024, row_cap=50_000, warmup=2, repeats=5)
    light = measure_tables([TableSpec(rows=50_000, dim=64, pooling_factor=1.0)], config)
    heavy = measure_tables([TableSpec(rows=50_000, dim=64, pooling_factor=60.0)] * 4, config)
    assert 0.0 < light < heavy
