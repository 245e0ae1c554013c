"""``surrogates.llm.evaluate``: the bench's streaming losses agree across caches while the text
fits, and the sink cache's bytes stop growing once it is full."""

from __future__ import annotations

from typing import Any

import pytest

from surrogates.llm.evaluate import StreamRun, make_cache, recompute_losses, stream_losses


def test_methods_agree_while_the_text_fits_and_sinks_stay_flat(tiny_model: Any) -> None:
    ids = [(7 * i + 3) % 258 for i in range(150)]
    dense, sinks, window = StreamRun("dense", None), StreamRun("sinks", 64), StreamRun("window", 64)
    stream_losses(tiny_model, ids, make_cache(tiny_model, None), dense, sample_every=10)
    stream_losses(tiny_model, ids, make_cache(tiny_model, 4, 64), sinks, sample_every=10)
    stream_losses(tiny_model, ids, make_cache(tiny_model, 0, 64), window, sample_every=10)
    positions = list(range(5, 150, 5))
    recompute = StreamRun("recompute", 64)
    recompute_losses(tiny_model, ids, 64, positions, recompute)
    assert len(dense.nll) == len(sinks.nll) == 149
    for p in range(1, 65):
        assert sinks.nll[p] == pytest.approx(dense.nll[p], abs=1e-4)
        assert window.nll[p] == pytest.approx(dense.nll[p], abs=1e-4)
    for p in positions:
        if p <= 64:
            assert recompute.nll[p] == pytest.approx(dense.nll[p], abs=1e-4)
    assert sinks.cache_bytes_end == sinks.cache_bytes_max == 2 * 2 * 64 * 2 * 16 * 4
    assert dense.cache_bytes_end == 2 * 2 * 149 * 2 * 16 * 4
    assert dense.ppl(positions) > 0
    assert sinks.tokens_per_s > 0
