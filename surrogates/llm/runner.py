"""The small interface every chat model backend offers, and the factory that picks one.

A runner streams an assistant reply to an OpenAI-style message list (``{"role", "content"}``
with roles ``system`` | ``user`` | ``assistant``) as text pieces. Two backends:

- :class:`surrogates.llm.local.LocalRunner`: a local transformers model (the default
  SmolLM2-135M-Instruct, or a local model directory) with a StreamingLLM sink cache;
- :class:`surrogates.llm.openai_http.OpenAIChatRunner`: an OpenAI-compatible
  ``/v1/chat/completions`` server the user runs (llama.cpp, vLLM, Ollama, ...), over httpx.

Nothing heavy is imported here: :func:`open_runner` imports the backend it builds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    from surrogates.llm.sink_cache import PositionMode

__all__ = ["ChatMessage", "ChatRunner", "complete", "open_runner"]


class ChatMessage(TypedDict):
    """One chat turn: ``role`` is ``system`` | ``user`` | ``assistant``."""

    role: str
    content: str


@runtime_checkable
class ChatRunner(Protocol):
    """Streams the assistant's reply to ``messages``: greedy when ``temperature`` is 0, else
    sampled (reproducibly for a given ``seed`` where the backend allows), at most
    ``max_new_tokens`` tokens."""

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Iterator[str]: ...


def complete(runner: ChatRunner, messages: Sequence[ChatMessage], max_new_tokens: int = 256, **options: float) -> str:
    """The whole reply of ``runner`` (its stream joined); ``options`` go to ``stream_chat``."""
    return "".join(runner.stream_chat(messages, max_new_tokens, **options))  # type: ignore[arg-type]


def open_runner(
    model: str | Path | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    device: str = "auto",
    dtype: str = "float32",
    sinks: int = 4,
    window: int = 2044,
    positions: PositionMode = "pre-rope",
    timeout_s: float = 120.0,
) -> ChatRunner:
    """A runner for ``model``: with ``base_url``, an OpenAI-compatible server (``model`` is the
    name it serves, ``api_key`` its bearer token); without, a local model, the default
    SmolLM2-135M-Instruct when ``model`` is None, else a local transformers directory.
    :class:`~surrogates.llm.errors.ModelSetupError` says what to install when a local model is
    missing."""
    if base_url is not None:
        from surrogates.llm.openai_http import OpenAIChatRunner

        return OpenAIChatRunner(base_url, str(model or "default"), api_key=api_key, timeout_s=timeout_s)
    from surrogates.llm.local import LocalRunner
    from surrogates.llm.models import DEFAULT_MODEL

    return LocalRunner.load(
        model or DEFAULT_MODEL, device=device, dtype=dtype, sinks=sinks, window=window, positions=positions
    )
