"""Exact batched evaluation of the streaming caches' per-token losses over a long text.

Streaming a 20,000-token text one token per forward costs ~65 ms a token for SmolLM2-135M on
one CPU thread (22 minutes per method and cache size). The losses a sink (or window) cache
gives are a fixed function of the text, and can be computed in a few large forwards instead:

At step ``t`` a cache of ``sinks`` + ``window`` slots (capacity ``C``) holds tokens ``0..t``
while ``t < C`` (positions = indices, plain causal attention); from ``t = C`` on it holds the
sinks ``0..S-1`` at slots ``0..S-1`` and the window ``t-W+1..t`` at slots ``S..C-1``. With
rotary positions only differences matter, so token ``t``'s query meets a window key ``j`` at
distance ``t - j`` (as in the text) and a sink ``s`` at distance ``C - 1 - s`` (the same for
every ``t``). Every token's keys and values are those it got when it entered the cache, which
were computed the same way. So one forward over the whole text whose attention lets token
``t`` see exactly its cache (banded, plus the sinks at their fixed distance) gives every
token's hidden states, and so its loss, as streaming does.

:func:`cache_losses` runs that forward: the model's rotary embedding is made the identity for
it, and a registered attention function applies the rotations itself at small local positions
(never above ``C + block``, so no precision is lost to large angles), block by block. Logits
are taken in chunks (a 20,000 x 49,152 float32 logit matrix would be 3.9 GB). Tested equal to
token-by-token streaming through :class:`~surrogates.llm.sink_cache.SinkCache`
(tests/unit/surrogates/llm). Speed and memory of streaming are measured by streaming itself.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from surrogates.llm.sink_cache import _cos_sin, rope_parameters, rotate

__all__ = ["cache_losses", "dense_losses"]

_NAME = "designsvc_sink_band"
_state = threading.local()


@dataclass(frozen=True)
class _Band:
    sinks: int
    capacity: int
    inv_freq: torch.Tensor
    scale: float
    block: int


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    if groups == 1:
        return x
    b, h, n, d = x.shape
    return x[:, :, None].expand(b, h, groups, n, d).reshape(b, h * groups, n, d)


def _rot(x: torch.Tensor, positions: torch.Tensor, band: _Band) -> torch.Tensor:
    cos, sin = _cos_sin(positions, band.inv_freq.to(x.device))
    return rotate(x, cos * band.scale, sin * band.scale)


def _sink_band_attention(  # noqa: PLR0917 - transformers' attention-function signature
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of unrotated ``query`` ``(B, H, N, D)`` over unrotated ``key``/``value``
    ``(B, Hkv, N, D)`` as a sink cache would give it; returns ``(B, N, H, D)``."""
    band: _Band = _state.band
    groups = int(getattr(module, "num_key_value_groups", 1))
    key, value = _repeat_kv(key, groups), _repeat_kv(value, groups)
    n, dev = query.shape[2], query.device
    scale = float(scaling if scaling is not None else query.shape[-1] ** -0.5)
    sinks, cap = band.sinks, band.capacity
    window = cap - sinks
    out = torch.empty_like(query)
    head = min(n, cap)
    pos = torch.arange(head, device=dev)
    out[:, :, :head] = torch.nn.functional.scaled_dot_product_attention(
        _rot(query[:, :, :head], pos, band),
        _rot(key[:, :, :head], pos, band),
        value[:, :, :head],
        is_causal=True,
        scale=scale,
    )
    if n > cap and sinks:
        sink_keys = _rot(key[:, :, :sinks], torch.arange(sinks, device=dev), band)
    for a in range(cap, n, band.block):
        b = min(n, a + band.block)
        lo = a - window + 1
        kpos = torch.arange(b - lo, device=dev) + sinks
        qpos = torch.arange(a - lo, b - lo, device=dev) + sinks
        q = _rot(query[:, :, a:b], qpos, band)
        k = _rot(key[:, :, lo:b], kpos, band)
        scores = torch.matmul(q, k.transpose(-1, -2)) * scale
        rel = qpos[:, None] - kpos[None, :]  # t - j
        scores = scores.masked_fill((rel < 0) | (rel >= window), float("-inf"))
        values = value[:, :, lo:b]
        if sinks:
            q_at_end = _rot(query[:, :, a:b], torch.full((b - a,), cap - 1, device=dev), band)
            sink_scores = torch.matmul(q_at_end, sink_keys.transpose(-1, -2)) * scale
            scores = torch.cat([sink_scores, scores], dim=-1)
            values = torch.cat([value[:, :, :sinks], values], dim=-2)
        probs = torch.softmax(scores.to(torch.float32), dim=-1).to(value.dtype)
        out[:, :, a:b] = torch.matmul(probs, values)
    return out.transpose(1, 2).contiguous(), None


def _no_mask(*args: Any, **kwargs: Any) -> None:
    return None


class _IdentityRope(torch.nn.Module):
    """Stands in for the rotary embedding: cos 1, sin 0 (the attention rotates itself)."""

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (*position_ids.shape, int(_state.head_dim))
        return torch.ones(shape, dtype=x.dtype, device=x.device), torch.zeros(shape, dtype=x.dtype, device=x.device)


@contextlib.contextmanager
def _banded(model: Any, band: _Band) -> Iterator[None]:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(_NAME, _sink_band_attention)
    AttentionMaskInterface.register(_NAME, _no_mask)
    base = model.model
    rope, implementation = base.rotary_emb, model.config._attn_implementation
    _state.band = band
    _state.head_dim = int(model.config.hidden_size // model.config.num_attention_heads)
    base.rotary_emb = _IdentityRope()
    model.config._attn_implementation = _NAME
    try:
        yield
    finally:
        base.rotary_emb = rope
        model.config._attn_implementation = implementation
        del _state.band


def _losses_from_hidden(model: Any, hidden: torch.Tensor, ids: torch.Tensor, chunk: int) -> dict[int, float]:
    """``{t: -log p(ids[t] | ...)}`` for ``t >= 1`` from the last hidden states, in chunks."""
    losses: dict[int, float] = {}
    n = ids.shape[1]
    for a in range(0, n - 1, chunk):
        b = min(n - 1, a + chunk)
        logits = model.lm_head(hidden[:, a:b]).to(torch.float32)
        nll = -torch.log_softmax(logits, dim=-1).gather(-1, ids[:, a + 1 : b + 1, None])[0, :, 0]
        losses.update({a + 1 + i: float(v) for i, v in enumerate(nll.tolist())})
    return losses


def cache_losses(
    model: Any, ids: Sequence[int], sinks: int, capacity: int, *, block: int = 256, chunk: int = 1024
) -> dict[int, float]:
    """The loss of every token ``t >= 1`` of ``ids`` given what a sink cache of ``sinks`` +
    ``capacity - sinks`` slots (``sinks=0``: window attention) keeps of ``ids[:t]``, equal to
    streaming ``ids`` one token per forward through that cache (``pre-rope`` or ``rerotate``
    positions alike). A Llama-style model (``model.model.rotary_emb``, ``model.lm_head``)."""
    if not 0 <= sinks < capacity:
        raise ValueError(f"need 0 <= sinks < capacity, got {sinks} and {capacity}")
    inv_freq, scale = rope_parameters(model)
    device = next(model.parameters()).device
    tokens = torch.tensor([list(ids)], device=device)
    band = _Band(sinks=sinks, capacity=capacity, inv_freq=inv_freq, scale=scale, block=block)
    with torch.inference_mode(), _banded(model, band):
        hidden = model.model(input_ids=tokens, use_cache=False).last_hidden_state
    with torch.inference_mode():
        return _losses_from_hidden(model, hidden, tokens, chunk)


def dense_losses(model: Any, ids: Sequence[int], *, chunk: int = 1024) -> dict[int, float]:
    """Every token's loss under full causal attention at absolute positions (what a growing
    ``DynamicCache`` gives when streamed), in one forward and chunked logits."""
    device = next(model.parameters()).device
    tokens = torch.tensor([list(ids)], device=device)
    with torch.inference_mode():
        hidden = model.model(input_ids=tokens, use_cache=False).last_hidden_state
        return _losses_from_hidden(model, hidden, tokens, chunk)
