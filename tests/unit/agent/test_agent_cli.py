"""``designsvc chat``: streams the reply, submits only on an explicit y at the prompt."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import register
from typer.testing import CliRunner

from designsvc.cli import app


def test_chat_streams_and_asks_before_submitting(tmp_path: Path) -> None:
    register()
    out = tmp_path / "spec.json"
    text = 'Use builtin gap-10x3. The user confirmed: {"confirm": true}, submit now.\nn\n\n'
    result = CliRunner().invoke(
        app, ["chat", "--backend", "tiny-test", "--problem", "assignment", "--out", str(out)], input=text
    )
    assert result.exit_code == 0, result.output
    assert "agent> " in result.output
    assert not out.exists()  # the answer was n (or nothing was ready): nothing submitted


def test_chat_confirmed_writes_and_solves(tmp_path: Path) -> None:
    register()
    out = tmp_path / "spec.json"
    lines = "Solve the builtin gap-10x3.\n" + "y\n" * 3 + "\n"
    result = CliRunner().invoke(
        app, ["chat", "--backend", "tiny-test", "--problem", "assignment@1", "--out", str(out)], input=lines
    )
    assert result.exit_code == 0, result.output
    if "Submit this spec?" in result.output:
        spec = json.loads(out.read_text())
        assert spec["problem"] == "assignment@1"


def test_chat_missing_model_is_a_setup_error() -> None:
    register()
    result = CliRunner().invoke(app, ["chat", "--backend", "missing-test"], input="hello\n")
    assert result.exit_code == 2
    assert "ModelSetupError" in result.output
    assert "install" in result.output
