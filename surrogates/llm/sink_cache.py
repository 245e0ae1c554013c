"""A StreamingLLM (Xiao et al., ICLR'24) attention-sink KV cache on transformers 5.x's Cache API.

Each attention layer keeps the first ``sinks`` tokens it saw (the attention sinks) and the most
recent ``window`` tokens; a token leaving the window is dropped, so a layer never holds more
than ``capacity = sinks + window`` keys and values, however long the stream. Positions are
cache slots, not text positions (StreamingLLM's rule): the token in slot ``j`` is rotated as if
it were at position ``j``, and a new token goes in at the slot after the last kept one.

transformers 5.x removed ``SinkCache``: a cache is ``Cache(layers=[...])`` and the attention
applies RoPE to the keys *before* ``cache.update``, passing the cache no cos/sin. So a layer
gets keys already rotated at the positions the runner gave the model, and there are two ways to
keep slots right when tokens leave the window (``positions=``):

- ``"rerotate"``: store rotated keys; when ``n`` tokens are evicted, rotate every kept window
  key by ``-n`` positions (one cos/sin vector from the model's ``inv_freq``, computed in
  float32), which moves it to its new slot. Each key is re-rotated once per eviction, so
  rounding accumulates with the window: harmless in float32 (relative key error 1e-5), but in
  bfloat16 after 3,000 tokens with a 508-token window the kept keys were off by 10 % (median)
  and up to 57 % (the oldest) of their norm.
- ``"pre-rope"`` (default): undo the rotation of each new key once (it arrives at a known slot),
  store keys without RoPE, and rotate the whole cache at its slots ``0 .. K-1`` on every
  update (a cached slot table). Exact at any length and dtype (bfloat16: 0.3 %, its rounding).
  It costs one rotation of the cache per step; on SmolLM2-135M (CPU, float32, one thread) a
  decoded token took 0-25 % longer than with ``rerotate`` (noisy, shared machine) and about
  8 % longer than with a plain ``DynamicCache`` of the same length; the linear layers dominate.
  Chosen for exactness: the agent may run the model in bfloat16 on a GPU.

The runner must pass ``position_ids`` = :meth:`SinkCache.slot_positions` (the model's default,
``get_seq_length() + arange``, is wrong once the cache is full); ``get_seq_length`` returns the
number of filled slots and ``get_mask_sizes`` tells the mask builder how many keys the
attention will see and how many were dropped, so the causal mask stays right. A forward may
add at most ``window`` tokens (chunk longer prompts). ``sinks=0`` gives plain window attention
(StreamingLLM's failing baseline).

Shapes: keys and values are ``(batch, kv_heads, K, head_dim)`` with ``K <= capacity``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from transformers.cache_utils import Cache, DynamicLayer

__all__ = ["PositionMode", "SinkCache", "SinkCacheLayer", "rope_parameters", "rotate", "sink_cache"]

PositionMode = Literal["rerotate", "pre-rope"]
_STATIC_ROPE_TYPES = ("default", "linear", "llama3", "yarn", "longrope")


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _cos_sin(positions: torch.Tensor, inv_freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of shape ``(len(positions), head_dim)`` in float32, HF's layout
    (frequencies repeated twice along the last axis)."""
    freqs = positions.to(torch.float32)[:, None] * inv_freq.to(torch.float32)[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE rotation of ``x`` ``(..., T, head_dim)`` by per-position ``cos``/``sin`` ``(T, head_dim)``
    (or ``(1, head_dim)`` for one angle), computed in float32 and returned in ``x``'s dtype."""
    x32 = x.to(torch.float32)
    return (x32 * cos + _rotate_half(x32) * sin).to(x.dtype)


def rope_parameters(model: Any) -> tuple[torch.Tensor, float]:
    """``(inv_freq (head_dim/2,), attention_scaling)`` of the model's rotary embedding (the first
    module with an ``inv_freq`` buffer); ValueError for a model without one or whose rope type
    changes frequencies with the length (dynamic scaling)."""
    config = getattr(model, "config", None)
    params = getattr(config, "rope_parameters", None) or {}
    rope_type = params.get("rope_type", "default") if isinstance(params, dict) else "default"
    if rope_type not in _STATIC_ROPE_TYPES:
        raise ValueError(f"the sink cache needs static rotary frequencies; rope_type {rope_type!r} is not supported")
    for module in model.modules():
        inv_freq = getattr(module, "inv_freq", None)
        if isinstance(inv_freq, torch.Tensor):
            return inv_freq.detach().to(torch.float32).clone(), float(getattr(module, "attention_scaling", 1.0))
    raise ValueError("the sink cache needs a rotary-embedding model (no module with inv_freq found)")


class SinkCacheLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """One attention layer's sink cache: ``sinks`` first tokens plus the last ``window`` ones,
    positions are slots (see the module docstring for ``positions``). ``inv_freq`` is the
    model's ``(head_dim/2,)`` rotary frequencies, ``attention_scaling`` its cos/sin factor."""

    is_sliding = False
    is_croppable = False

    def __init__(
        self,
        sinks: int,
        window: int,
        inv_freq: torch.Tensor,
        attention_scaling: float = 1.0,
        positions: PositionMode = "pre-rope",
    ) -> None:
        if sinks < 0 or window < 1:
            raise ValueError(f"sinks must be >= 0 and window >= 1, got {sinks} and {window}")
        if positions not in ("rerotate", "pre-rope"):
            raise ValueError(f"positions must be 'rerotate' or 'pre-rope', got {positions!r}")
        super().__init__()  # type: ignore[no-untyped-call]
        self.sinks = sinks
        self.window = window
        self.capacity = sinks + window
        self.positions: PositionMode = positions
        self.inv_freq = inv_freq.to(torch.float32)
        self.attention_scaling = attention_scaling
        self.seen = 0
        self.evicted = 0
        self._cos: torch.Tensor | None = None
        self._sin: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.inv_freq = self.inv_freq.to(key_states.device)
        if self.positions == "pre-rope":
            slots = torch.arange(self.capacity, device=key_states.device)
            self._cos, self._sin = _cos_sin(slots, self.inv_freq)

    def _evict(self, count: int) -> None:
        """Drop the ``count`` oldest window tokens (never a sink); in ``rerotate`` mode move the
        kept window keys ``count`` slots down."""
        assert self.keys is not None
        assert self.values is not None
        head_k, tail_k = self.keys[..., : self.sinks, :], self.keys[..., self.sinks + count :, :]
        head_v, tail_v = self.values[..., : self.sinks, :], self.values[..., self.sinks + count :, :]
        if self.positions == "rerotate" and tail_k.shape[-2] > 0:
            cos, sin = _cos_sin(torch.tensor([-count], device=tail_k.device), self.inv_freq)
            tail_k = rotate(tail_k, cos, sin)
        self.keys = torch.cat([head_k, tail_k], dim=-2)
        self.values = torch.cat([head_v, tail_v], dim=-2)
        self.evicted += count

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add ``c`` new tokens ``(batch, kv_heads, c, head_dim)`` whose keys were rotated at slots
        ``L - n .. L - n + c - 1`` (``L`` filled slots, ``n = max(0, L + c - capacity)`` evicted
        now) and return the ``K = L + c - n`` keys and values the attention sees; ValueError
        when ``c`` exceeds ``window`` on a cache that would overflow."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        assert self.keys is not None
        assert self.values is not None
        filled, count = self.get_seq_length(), key_states.shape[-2]
        overflow = max(0, filled + count - self.capacity)
        if overflow > 0 and overflow > filled - self.sinks:
            raise ValueError(f"a forward may add at most window={self.window} tokens to a full sink cache, got {count}")
        if self.positions == "pre-rope":
            assert self._cos is not None
            assert self._sin is not None
            start = filled - overflow
            cos, sin = self._cos[start : start + count], self._sin[start : start + count]
            key_states = rotate(key_states, cos, -sin) / self.attention_scaling
        if overflow:
            self._evict(overflow)
        if self.keys.numel() == 0:
            self.keys, self.values = key_states, value_states
        else:
            self.keys = torch.cat([self.keys, key_states], dim=-2)
            self.values = torch.cat([self.values, value_states], dim=-2)
        self.seen += count
        if self.positions == "pre-rope":
            assert self._cos is not None
            assert self._sin is not None
            size = self.keys.shape[-2]
            rotated = rotate(self.keys, self._cos[:size], self._sin[:size]) * self.attention_scaling
            return rotated, self.values
        return self.keys, self.values

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        """``(K, n)``: the attention sees ``K = min(L + q, capacity)`` keys, ``n = L + q - K``
        of the positions before them were dropped (the causal mask's key offset)."""
        total = self.get_seq_length() + query_length
        seen = min(total, self.capacity)
        return seen, total - seen

    def get_max_length(self) -> int:
        return self.capacity

    def reset(self) -> None:
        super().reset()
        self.seen = 0
        self.evicted = 0

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("a sink cache cannot be cropped")


class SinkCache(Cache):
    """A :class:`Cache` of :class:`SinkCacheLayer`, one per attention layer, with the helpers a
    decode loop needs."""

    def __init__(self, layers: list[SinkCacheLayer]) -> None:
        if not layers:
            raise ValueError("a sink cache needs at least one layer")
        super().__init__(layers=list(layers))
        self.sink_layers = layers

    @property
    def sinks(self) -> int:
        return self.sink_layers[0].sinks

    @property
    def window(self) -> int:
        return self.sink_layers[0].window

    @property
    def capacity(self) -> int:
        return self.sink_layers[0].capacity

    @property
    def seen(self) -> int:
        """Tokens added since creation (or the last reset)."""
        return self.sink_layers[0].seen

    def slot_positions(self, query_length: int, device: Any = None) -> torch.Tensor:
        """``position_ids`` ``(1, query_length)`` for the next forward: the slots its tokens will fill."""
        if query_length > self.window and self.get_seq_length() + query_length > self.capacity:
            raise ValueError(f"a forward may add at most window={self.window} tokens, got {query_length}")
        filled = self.get_seq_length()
        start = filled if filled + query_length <= self.capacity else self.capacity - query_length
        return torch.arange(start, start + query_length, device=device).unsqueeze(0)

    def nbytes(self) -> int:
        """Bytes held by the cached keys and values of all layers (what grows with the stream)."""
        total = 0
        for layer in self.sink_layers:
            if layer.keys is not None and layer.values is not None:
                total += layer.keys.numel() * layer.keys.element_size()
                total += layer.values.numel() * layer.values.element_size()
        return total


def sink_cache(model: Any, sinks: int = 4, window: int = 508, positions: PositionMode = "pre-rope") -> SinkCache:
    """A fresh :class:`SinkCache` for ``model`` (a transformers causal LM with rotary
    embeddings): ``sinks`` sink tokens plus ``window`` recent ones in each of its
    ``config.num_hidden_layers`` layers."""
    inv_freq, scaling = rope_parameters(model)
    layers = model.config.num_hidden_layers
    return SinkCache([SinkCacheLayer(sinks, window, inv_freq, scaling, positions) for _ in range(layers)])
