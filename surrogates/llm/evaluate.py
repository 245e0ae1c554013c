"""Streaming perplexity, speed and memory of a causal LM under different KV caches
(StreamingLLM's evaluation: one token per forward, every next-token loss counted).

Used by ``bench/streaming_llm.py`` (which imports no torch itself). A :class:`StreamRun`
collects, for one method, the loss of each predicted position, the wall seconds, the KV-cache
bytes (largest over the stream and at its end) and the growth of the process's resident memory
(sampled every ``sample_every`` tokens).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from surrogates.llm.local import forward_chunk
from surrogates.llm.sink_cache import PositionMode, SinkCache, sink_cache

__all__ = [
    "StreamRun",
    "cache_nbytes",
    "make_cache",
    "recompute_losses",
    "rss_bytes",
    "set_threads",
    "stream_losses",
    "torch_info",
]


@dataclass
class StreamRun:
    """One method's results: ``nll`` maps a predicted position to its loss (nats)."""

    method: str
    cache: int | None
    nll: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0
    cache_bytes_max: int = 0
    cache_bytes_end: int = 0
    rss_growth: int = 0
    speed_tokens: int = 0
    speed_seconds: float = 0.0
    exact_diff: float | None = None
    """With ``nll`` from the batched evaluation: the streamed tokens whose wall time gives the
    speed, and the largest difference between their streamed and batched losses."""

    def ppl(self, positions: Sequence[int] | None = None) -> float:
        """Perplexity over all predicted positions, or over ``positions`` (those it has)."""
        keys = list(self.nll) if positions is None else [p for p in positions if p in self.nll]
        values = [self.nll[p] for p in keys]
        return math.exp(sum(values) / len(values)) if values else float("nan")

    @property
    def tokens_per_s(self) -> float:
        """Streamed tokens per wall second (of the speed run when there is one)."""
        if self.speed_tokens:
            return self.speed_tokens / self.speed_seconds if self.speed_seconds else float("nan")
        return len(self.nll) / self.seconds if self.seconds else float("nan")


def rss_bytes() -> int:
    """The process's resident memory now (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def cache_nbytes(cache: Any) -> int:
    """Bytes of the keys and values a transformers cache holds."""
    if isinstance(cache, SinkCache):
        return cache.nbytes()
    total = 0
    for layer in cache.layers:
        for tensor in (layer.keys, layer.values):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()
    return total


def make_cache(model: Any, sinks: int | None, size: int = 0, positions: PositionMode = "pre-rope") -> Any:
    """A dense ``DynamicCache`` when ``sinks`` is None, else a sink cache of ``sinks`` + ``size - sinks``."""
    if sinks is None:
        from transformers import DynamicCache

        return DynamicCache(config=model.config)
    return sink_cache(model, sinks, size - sinks, positions)


def _nll(logits: torch.Tensor, target: int) -> float:
    return float(-torch.log_softmax(logits.to(torch.float32), dim=-1)[target].item())


def stream_losses(
    model: Any,
    ids: Sequence[int],
    cache: Any,
    run: StreamRun,
    *,
    tick: Callable[[int], None] = lambda n: None,
    sample_every: int = 250,
) -> None:
    """Feed ``ids`` one token per forward through ``cache``; ``run.nll[t + 1]`` is the loss of
    token ``t + 1`` given what the cache kept of ``ids[: t + 1]``. ``tick(n)`` reports progress."""
    device = next(model.parameters()).device
    tokens = torch.tensor([list(ids)], device=device)
    start_rss = peak_rss = rss_bytes()
    started = time.perf_counter()
    last = tokens.shape[1] - 2
    with torch.inference_mode():
        for t in range(last + 1):
            logits = forward_chunk(model, cache, tokens[:, t : t + 1])[0, -1]
            run.nll[t + 1] = _nll(logits, int(tokens[0, t + 1]))
            if (t + 1) % sample_every == 0 or t == last:
                run.cache_bytes_max = max(run.cache_bytes_max, cache_nbytes(cache))
                peak_rss = max(peak_rss, rss_bytes())
                tick(sample_every if t != last else (t + 1) % sample_every)
    run.seconds = time.perf_counter() - started
    run.cache_bytes_end = cache_nbytes(cache)
    run.rss_growth = peak_rss - start_rss


def recompute_losses(
    model: Any,
    ids: Sequence[int],
    size: int,
    positions: Sequence[int],
    run: StreamRun,
    *,
    tick: Callable[[int], None] = lambda n: None,
) -> None:
    """Sliding window with recomputation: for each ``p`` in ``positions``, a fresh forward over
    ``ids[p - size : p]`` (positions 0..size-1) and the loss of ``ids[p]``."""
    device = next(model.parameters()).device
    tokens = torch.tensor([list(ids)], device=device)
    start_rss = peak_rss = rss_bytes()
    started = time.perf_counter()
    with torch.inference_mode():
        for k, p in enumerate(positions):
            hidden = model.model(input_ids=tokens[:, max(0, p - size) : p], use_cache=False).last_hidden_state
            logits = model.lm_head(hidden[:, -1:])[0, -1]  # only the predicting position's logits
            run.nll[p] = _nll(logits, int(tokens[0, p]))
            if (k + 1) % 25 == 0:
                peak_rss = max(peak_rss, rss_bytes())
                tick(25)
    run.seconds = time.perf_counter() - started
    run.rss_growth = peak_rss - start_rss


def set_threads(threads: int) -> None:
    """``torch.set_num_threads`` when ``threads`` > 0."""
    if threads > 0:
        torch.set_num_threads(threads)


def torch_info() -> str:
    """torch's version and thread count, for a bench header."""
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"
