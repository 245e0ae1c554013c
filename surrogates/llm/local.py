"""A local causal-LM runner that owns its decode loop over a StreamingLLM sink cache.

``generate()`` assigns absolute text positions, which a sink cache must not see; so the runner
feeds the model itself: prompt tokens in chunks of at most ``prefill_chunk`` (each forward
gets ``position_ids`` = the cache slots it fills, see :mod:`surrogates.llm.sink_cache`), then
one token per step, greedy (``temperature=0``) or sampled from a ``torch.Generator`` seeded
with ``seed``. Text is yielded as soon as it decodes to whole characters.

A runner keeps one conversation's cache between calls: when the rendered chat (the
tokenizer's chat template) of a call starts with everything already fed (prompt and reply of
the previous call; checked by the SHA-256 and length of that prefix, so nothing grows with the
conversation), only the new text is fed. Otherwise the cache is reset and the whole chat is
streamed through it. Either way the cache never holds more than ``sinks + window`` tokens, so
memory stays flat however long the conversation runs; what falls out of the window is
forgotten, except the first ``sinks`` tokens.

A runner is not thread-safe: one conversation at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from surrogates.devices import select_device
from surrogates.llm.models import DEFAULT_MODEL, LoadedModel, load_model
from surrogates.llm.runner import ChatMessage
from surrogates.llm.sink_cache import PositionMode, SinkCache, sink_cache

__all__ = ["IncrementalDecoder", "LocalRunner", "forward_chunk", "pick_token"]


def forward_chunk(model: Any, cache: Any, input_ids: torch.Tensor) -> torch.Tensor:
    """Logits ``(1, c, vocab)`` of ``model`` on ``input_ids`` ``(1, c)`` after what ``cache``
    holds, updating ``cache``: a :class:`SinkCache` (``position_ids`` are its slots, ``c`` at
    most its window) or any other transformers cache (default positions)."""
    positions = cache.slot_positions(input_ids.shape[1], input_ids.device) if isinstance(cache, SinkCache) else None
    out = model(input_ids=input_ids, position_ids=positions, cache=cache, use_cache=True)
    return out.logits  # type: ignore[no-any-return]


def pick_token(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None) -> int:
    """The next token from one position's ``(vocab,)`` logits: argmax when ``temperature`` is 0,
    else a draw (with ``generator``) from the softmax at ``temperature``, restricted to the
    smallest set of tokens whose probability reaches ``top_p``."""
    if temperature <= 0.0:
        return int(torch.argmax(logits).item())
    probs = torch.softmax(logits.to(torch.float32) / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice].item())
    return int(torch.multinomial(probs, 1, generator=generator).item())


class IncrementalDecoder:
    """Turns a growing list of token ids into text deltas, holding back an incomplete
    multi-byte character (decoded as U+FFFD); cost per token is bounded (a few tokens decoded)."""

    def __init__(self, tokenizer: Any, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        self.ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def push(self, token: int) -> str:
        """Add ``token``; the text it completes (possibly empty)."""
        self.ids.append(token)
        skip = self.skip_special_tokens
        before = self.tokenizer.decode(self.ids[self._prefix : self._read], skip_special_tokens=skip)
        after = self.tokenizer.decode(self.ids[self._prefix :], skip_special_tokens=skip)
        if after.endswith("\ufffd") or len(after) <= len(before):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return str(after[len(before) :])


class LocalRunner:
    """A :class:`~surrogates.llm.runner.ChatRunner` over a local transformers causal LM.

    ``model`` and ``tokenizer`` are a loaded model (eval mode) and its tokenizer, which needs a
    chat template; ``sinks`` + ``window`` is the cache capacity per layer; ``positions`` how
    slots are kept (see :mod:`surrogates.llm.sink_cache`); prompts are fed ``prefill_chunk``
    tokens per forward (at most ``window``; smaller chunks keep more context for the chunk's
    first tokens once the cache is full; ``min(256, window)`` when None)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        sinks: int = 4,
        window: int = 2044,
        positions: PositionMode = "pre-rope",
        prefill_chunk: int | None = None,
    ) -> None:
        prefill_chunk = min(256, window) if prefill_chunk is None else prefill_chunk
        if not 1 <= prefill_chunk <= window:
            raise ValueError(f"prefill_chunk must be in 1..window={window}, got {prefill_chunk}")
        self.model = model
        self.tokenizer = tokenizer
        self.sinks = sinks
        self.window = window
        self.positions: PositionMode = positions
        self.prefill_chunk = prefill_chunk
        self.device = next(model.parameters()).device
        self.cache = sink_cache(model, sinks, window, positions)
        self.stop_ids = self._stop_ids()
        self._fed_len = 0
        self._fed_hash = hashlib.sha256().hexdigest()
        self._logits: torch.Tensor | None = None

    @classmethod
    def load(
        cls,
        model: str | Path = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str = "float32",
        sinks: int = 4,
        window: int = 2044,
        positions: PositionMode = "pre-rope",
        prefill_chunk: int | None = None,
    ) -> LocalRunner:
        """Load ``model`` (see :func:`surrogates.llm.models.load_model`) on ``device``
        (``auto`` | ``cpu`` | ``cuda``) and wrap it; :class:`~surrogates.llm.errors.ModelSetupError`
        when it is missing."""
        loaded: LoadedModel = load_model(model, dtype=dtype, device=select_device(device))
        runner = cls(
            loaded.model,
            loaded.tokenizer,
            sinks=sinks,
            window=window,
            positions=positions,
            prefill_chunk=prefill_chunk,
        )
        runner.loaded = loaded
        return runner

    loaded: LoadedModel | None = None

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model, "generation_config", None), self.model.config, self.tokenizer):
            value = getattr(source, "eos_token_id", None)
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(int(v) for v in value)
        return ids

    def reset(self) -> None:
        """Forget the conversation (empty the cache)."""
        self.cache = sink_cache(self.model, self.sinks, self.window, self.positions)
        self._fed_len = 0
        self._fed_hash = hashlib.sha256().hexdigest()
        self._logits = None

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """The chat as the model's template writes it, ending with the assistant's turn opening."""
        text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return str(text)

    def feed_ids(self, ids: Sequence[int]) -> torch.Tensor:
        """Feed ``ids`` through the cache in chunks; the ``(vocab,)`` logits after the last one."""
        if not ids:
            raise ValueError("nothing to feed")
        logits: torch.Tensor | None = None
        with torch.inference_mode():
            for start in range(0, len(ids), self.prefill_chunk):
                chunk = torch.tensor([list(ids[start : start + self.prefill_chunk])], device=self.device)
                logits = forward_chunk(self.model, self.cache, chunk)[0, -1]
        assert logits is not None
        self._logits = logits
        return logits

    def _feed_text(self, text: str) -> torch.Tensor:
        """Feed the part of ``text`` not yet in the cache (all of it after a reset)."""
        prefix_ok = self._fed_len > 0 and len(text) > self._fed_len
        if prefix_ok:
            prefix_ok = hashlib.sha256(text[: self._fed_len].encode()).hexdigest() == self._fed_hash
        if not prefix_ok:
            self.reset()
        new = text[self._fed_len :]
        ids = self.tokenizer(new, add_special_tokens=False)["input_ids"]
        logits = self.feed_ids(ids) if ids else self._logits
        if logits is None:
            raise ValueError("the rendered chat is empty")
        self._fed_len = len(text)
        self._fed_hash = hashlib.sha256(text.encode()).hexdigest()
        return logits

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield the assistant's reply to ``messages`` piece by piece (greedy when
        ``temperature`` is 0, else sampled with ``seed``; a fresh random seed when None), until a
        stop token or ``max_new_tokens``."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        prompt = self.render(messages)
        logits = self._feed_text(prompt)
        generator: torch.Generator | None = None
        if temperature > 0.0:
            generator = torch.Generator(device=self.device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
        decoder = IncrementalDecoder(self.tokenizer)
        raw: list[int] = []
        finished = False
        try:
            for _ in range(max_new_tokens):
                token = pick_token(logits, temperature, top_p, generator)
                raw.append(token)
                if token in self.stop_ids:
                    # The stop token goes in too, so the cache holds the prompt and the whole reply.
                    self.feed_ids([token])
                    break
                piece = decoder.push(token)
                if piece:
                    yield piece
                logits = self.feed_ids([token])
            finished = True
        finally:
            if finished:
                reply = self.tokenizer.decode(raw, skip_special_tokens=False)
                self._fed_hash = hashlib.sha256((prompt + reply).encode()).hexdigest()
                self._fed_len = len(prompt) + len(reply)
            else:  # the caller stopped early: the cache no longer matches any text, start afresh next time
                self._fed_len = 0
