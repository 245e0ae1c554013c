"""``surrogates.llm.sink_cache``: the StreamingLLM cache equals dense attention while the text
fits, keeps its sinks, puts every kept token at its slot, and never outgrows sinks + window."""

from __future__ import annotations

import pytest
import torch
from llm_fixtures import tiny_llama

from surrogates.llm.local import forward_chunk
from surrogates.llm.sink_cache import SinkCacheLayer, _cos_sin, rotate, sink_cache

MODES = ("pre-rope", "rerotate")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_equals_dense_attention_while_the_text_fits(tiny_model: object, mode: str, chunk: int) -> None:
    ids = torch.randint(0, 258, (1, 40), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        dense = tiny_model(input_ids=ids).logits  # type: ignore[operator]
        cache = sink_cache(tiny_model, sinks=4, window=60, positions=mode)  # type: ignore[arg-type]
        pieces = [forward_chunk(tiny_model, cache, ids[:, s : s + chunk]) for s in range(0, 40, chunk)]
    assert cache.get_seq_length() == 40
    torch.testing.assert_close(torch.cat(pieces, dim=1), dense, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("chunk", [1, 5])
def test_positions_are_cache_slots_after_eviction(mode: str, chunk: int) -> None:
    """With one layer, keys and values depend only on the token and its slot, so the streamed
    logits must equal a fresh forward over [first 4 tokens] + [last window tokens]."""
    model = tiny_llama(layers=1, seed=3)
    ids = torch.randint(0, 258, (1, 120), generator=torch.Generator().manual_seed(2))
    sinks, window = 4, 20
    cache = sink_cache(model, sinks, window, positions=mode)  # type: ignore[arg-type]
    checked = 0
    with torch.inference_mode():
        for start in range(0, 120, chunk):
            logits = forward_chunk(model, cache, ids[:, start : start + chunk])[0, -1]
            seen = start + chunk
            if seen > sinks + window:
                kept = torch.cat([ids[:, :sinks], ids[:, seen - window : seen]], dim=1)
                torch.testing.assert_close(logits, model(input_ids=kept).logits[0, -1], atol=1e-5, rtol=1e-5)
                checked += 1
    assert checked > 10
    assert cache.get_seq_length() == sinks + window


@pytest.mark.parametrize("mode", MODES)
def test_eviction_keeps_the_first_four_tokens(mode: str) -> None:
    """Values carry their token's index: after 100 tokens the layer holds tokens 0-3 and the last window."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, 8, 2, dtype=torch.float32) / 8))
    layer = SinkCacheLayer(4, 8, inv_freq, positions=mode)  # type: ignore[arg-type]
    raw_keys = torch.randn(1, 2, 100, 8, generator=torch.Generator().manual_seed(0))
    for t in range(100):
        slot = min(t, 11)
        cos, sin = _cos_sin(torch.tensor([slot]), inv_freq)
        key = rotate(raw_keys[:, :, t : t + 1], cos, sin)
        value = torch.full((1, 2, 1, 8), float(t))
        keys, values = layer.update(key, value)
        assert keys.shape[-2] == min(t + 1, 12)
    assert values[0, 0, :, 0].tolist() == [0, 1, 2, 3, *range(92, 100)]
    kept = torch.cat([raw_keys[:, :, :4], raw_keys[:, :, 92:]], dim=-2)
    cos, sin = _cos_sin(torch.arange(12), inv_freq)
    torch.testing.assert_close(keys, rotate(kept, cos, sin), atol=1e-5, rtol=1e-5)
    assert layer.evicted == 88
    assert layer.seen == 100


def test_stays_within_sinks_plus_window_over_5000_tokens(tiny_model: object) -> None:
    ids = torch.randint(0, 258, (1, 5000), generator=torch.Generator().manual_seed(4))
    cache = sink_cache(tiny_model, sinks=4, window=60)
    sizes, nbytes = [], []
    with torch.inference_mode():
        for start in range(0, 5000, 8):
            forward_chunk(tiny_model, cache, ids[:, start : start + 8])
            sizes.append(cache.get_seq_length())
            nbytes.append(cache.nbytes())
    assert max(sizes) == 64
    assert sizes[-1] == 64
    assert cache.seen == 5000
    full = nbytes[sizes.index(64)]
    assert max(nbytes) == full == 2 * 2 * 64 * 2 * 16 * 4  # layers x (k, v) x slots x kv heads x head dim x fp32
    assert all(layer.get_seq_length() == 64 for layer in cache.sink_layers)


def test_a_forward_longer_than_the_window_is_refused(tiny_model: object) -> None:
    cache = sink_cache(tiny_model, sinks=4, window=8)
    with torch.inference_mode():
        forward_chunk(tiny_model, cache, torch.zeros(1, 8, dtype=torch.long))
        with pytest.raises(ValueError, match="at most window=8"):
            forward_chunk(tiny_model, cache, torch.zeros(1, 9, dtype=torch.long))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sinks must be"):
        SinkCacheLayer(-1, 8, torch.ones(4))
    with pytest.raises(ValueError, match="positions must be"):
        SinkCacheLayer(4, 8, torch.ones(4), positions="absolute")  # type: ignore[arg-type]


def test_pre_rope_keys_do_not_drift_in_bfloat16() -> None:
    """Why ``pre-rope`` is the default: re-rotating stored bfloat16 keys on every eviction
    accumulates rounding, while keys kept without RoPE are rotated once from exact values."""
    inv_freq = 1.0 / (100000 ** (torch.arange(0, 64, 2, dtype=torch.float32) / 64))
    sinks, window, total = 4, 124, 1000
    raw = torch.randn(1, 3, total, 64, generator=torch.Generator().manual_seed(0))
    errors = {}
    for mode in MODES:
        layer = SinkCacheLayer(sinks, window, inv_freq, positions=mode)  # type: ignore[arg-type]
        for t in range(total):
            cos, sin = _cos_sin(torch.tensor([min(t, sinks + window - 1)]), inv_freq)
            key = rotate(raw[:, :, t : t + 1], cos, sin).to(torch.bfloat16)
            keys, _ = layer.update(key, torch.zeros(1, 3, 1, 64, dtype=torch.bfloat16))
        kept = torch.cat([raw[:, :, :sinks], raw[:, :, total - window :]], dim=-2)
        cos, sin = _cos_sin(torch.arange(sinks + window), inv_freq)
        exact = rotate(kept, cos, sin)
        errors[mode] = float(((keys.float() - exact).norm(dim=-1) / exact.norm(dim=-1)).max())
    assert errors["pre-rope"] < 1e-2
    assert errors["rerotate"] > 3 * errors["pre-rope"]
