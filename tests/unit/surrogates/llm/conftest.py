"""Fixtures of the LLM runner tests: one torch thread, a tiny model, a byte-level tokenizer."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from llm_fixtures import byte_tokenizer, tiny_llama


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    return tiny_llama()


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return byte_tokenizer()
