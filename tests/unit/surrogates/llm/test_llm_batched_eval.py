"""The batched evaluation gives the losses of streaming one token per forward through each
cache (sinks, window, dense), at every position, whatever the block size."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from llm_fixtures import tiny_llama

from surrogates.llm.batched_eval import cache_losses, dense_losses
from surrogates.llm.evaluate import StreamRun, make_cache, stream_losses


@pytest.fixture(scope="module")
def model() -> Any:
    return tiny_llama(layers=3, seed=3)


@pytest.fixture(scope="module")
def ids() -> list[int]:
    generator = torch.Generator().manual_seed(7)
    return [int(t) for t in torch.randint(0, 256, (300,), generator=generator)]


@pytest.mark.parametrize(
    "case",
    [(4, 48, "pre-rope", 17), (4, 48, "rerotate", 64), (0, 40, "pre-rope", 40), (1, 9, "pre-rope", 5)],
)
def test_cache_losses_equal_streaming(model: Any, ids: list[int], case: tuple[int, int, Any, int]) -> None:
    sinks, capacity, positions, block = case
    run = StreamRun("s", capacity)
    stream_losses(model, ids, make_cache(model, sinks, capacity, positions), run)
    batched = cache_losses(model, ids, sinks, capacity, block=block, chunk=64)
    assert batched.keys() == run.nll.keys() == set(range(1, len(ids)))
    assert max(abs(run.nll[t] - batched[t]) for t in run.nll) < 1e-4


def test_dense_losses_equal_streaming(model: Any, ids: list[int]) -> None:
    run = StreamRun("d", None)
    stream_losses(model, ids, make_cache(model, None), run)
    batched = dense_losses(model, ids, chunk=50)
    assert max(abs(run.nll[t] - batched[t]) for t in run.nll) < 1e-4


def test_sinks_change_the_losses_once_the_cache_is_full(model: Any, ids: list[int]) -> None:
    with_sinks = cache_losses(model, ids, 4, 48)
    window = cache_losses(model, ids, 0, 48)
    dense = dense_losses(model, ids)
    assert all(abs(with_sinks[t] - dense[t]) < 1e-4 for t in range(1, 48))  # nothing evicted yet
    assert max(abs(with_sinks[t] - window[t]) for t in range(49, len(ids))) > 1e-3


def test_the_model_is_left_as_it_was(model: Any, ids: list[int]) -> None:
    implementation, rope = model.config._attn_implementation, model.model.rotary_emb
    cache_losses(model, ids[:60], 4, 20)
    assert model.config._attn_implementation == implementation
    assert model.model.rotary_emb is rope
    with pytest.raises(ValueError, match="sinks"):
        cache_losses(model, ids, 8, 8)
