"""The ``czp`` trainer: a tiny training job end to end (data set through the problem's
parametric interface, GaLore training, checkpoint with fingerprint, learning-curve PNG,
progress events), option errors with pointers, and the CLI command."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
import torch

from designsvc.core.errors import SpecError
from designsvc.core.plugins import TRAINERS
from designsvc.services.pipeline import run_training
from designsvc.services.validation import resolve_training
from surrogates.czp import checkpoint as czp_checkpoint
from surrogates.czp.trainer import CZPTrainer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY: dict[str, Any] = {
    "family": "three-branch-monopole",
    "sweep": {"start_mhz": 1500, "stop_mhz": 3500, "points": 11},
    "target": {"bands": [{"start_mhz": 2400, "stop_mhz": 2600, "max_s11_db": -10}]},
}


def _document(options: dict[str, Any], instances: list[Any] | None = None) -> dict[str, Any]:
    return {
        "train": {"name": "czp", "options": options},
        "problem": "antenna@1",
        "instances": instances or [TINY],
        "limits": {"time_limit_s": 120, "seed": 3},
    }


def test_registered_on_the_gpu_queue() -> None:
    assert TRAINERS.load("czp") is CZPTrainer
    assert CZPTrainer.problem == "antenna@1"
    assert CZPTrainer.queue == "gpu"


def test_a_tiny_training_job_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESIGNSVC_CACHE_DIR", str(tmp_path))
    events: list[dict[str, Any]] = []
    options = {"n_designs": 10, "epochs": 4, "batch_size": 4, "workers": 1, "space": "instance", "device": "cpu"}
    output = run_training(resolve_training(_document(options)), on_event=events.append)
    result = output.result
    assert result["status"] == "succeeded", result.get("error")
    artifacts = {a.name: a for a in output.artifacts}
    assert set(artifacts) == {"czp-three-branch-monopole.pt", "czp-learning-curve.png"}
    data = artifacts["czp-three-branch-monopole.pt"].data
    assert result["checkpoint"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert artifacts["czp-learning-curve.png"].data.startswith(PNG_MAGIC)
    path = tmp_path / "czp.pt"
    path.write_bytes(data)
    model, meta, digest = czp_checkpoint.load(path)
    assert digest == result["checkpoint"]["sha256"]
    assert meta["family"] == "three-branch-monopole"
    assert len(meta["lower"]) == len(meta["param_names"]) == 10
    assert meta["dataset"]["n_designs"] == 10
    assert meta["dataset"]["simulated"] == 10
    with torch.no_grad():
        assert model.predict_db(torch.rand(2, 10), torch.linspace(1.5e9, 3.5e9, 5)).shape == (2, 5)
    metrics = result["metrics"]
    assert metrics["optimizer"] == "galore"
    assert metrics["iterations"] == 4
    assert metrics["n_test"] == 2
    assert metrics["rmse_db"] is not None
    assert metrics["optimizer_state_bytes"] > 0
    assert "held-out RMSE" in metrics["summary"]
    progress = [e for e in events if e.get("type") == "progress"]
    assert progress
    assert progress[-1]["iteration"] == progress[-1]["iterations"] == 4
    assert any(e.get("stage") == "dataset-done" for e in events)
    # The second run reads every simulation from the cache.
    again = run_training(resolve_training(_document({**options, "optimizer": "adamw"})))
    assert again.result["metrics"]["dataset"]["cache_hits"] == 10
    assert again.result["metrics"]["optimizer"] == "adamw"


@pytest.mark.parametrize(
    ("options", "pointer"),
    [
        ({"epochs": 0}, "/train/options/epochs"),
        ({"optimizer": "sgd"}, "/train/options/optimizer"),
        ({"n_designs": "many"}, "/train/options/n_designs"),
        ({"learning": 1}, "/train/options/learning"),
    ],
)
def test_option_errors_point_into_the_spec(options: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SpecError) as info:
        resolve_training(_document(options))
    assert pointer in {e.pointer for e in info.value.errors}


def test_more_than_one_instance_fails_with_a_reason() -> None:
    job = resolve_training(_document({"n_designs": 4, "epochs": 1}, instances=[TINY, TINY]))
    result = run_training(job).result
    assert result["status"] == "failed"
    assert "one instance" in result["error"]["message"]


def test_the_cli_trains_and_writes_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from designsvc.cli import app

    monkeypatch.setenv("DESIGNSVC_CACHE_DIR", str(tmp_path / "cache"))
    instance = tmp_path / "tiny.json"
    import json

    instance.write_text(json.dumps(TINY))
    out = tmp_path / "czp.pt"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "czp",
            "-i",
            str(instance),
            "-o",
            "n_designs=8",
            "-o",
            "epochs=2",
            "-o",
            "workers=1",
            "--out",
            str(out),
            "--artifacts",
            str(tmp_path / "art"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out RMSE" in result.output
    assert out.is_file()
    assert (tmp_path / "art" / "czp-learning-curve.png").is_file()
    _, meta, _ = czp_checkpoint.load(out)
    assert meta["options"]["n_designs"] == 8
    assert io.BytesIO(out.read_bytes()).getbuffer().nbytes > 0
