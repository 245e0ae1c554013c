"""A chat runner for an OpenAI-compatible HTTP server (``POST {base_url}/chat/completions``).

For users who run their own model server (llama.cpp's ``llama-server``, vLLM, Ollama, ...):
the request asks for ``"stream": true`` and the reply is read as server-sent events, one
``data: {json}`` line per chunk whose ``choices[0].delta.content`` is the next piece of text,
until ``data: [DONE]``. ``base_url`` is the API root (e.g. ``http://127.0.0.1:8080/v1``).
Errors (refused connection, HTTP status, an ``error`` object in the stream) raise
:class:`ChatServerError` with the server's message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from surrogates.llm.runner import ChatMessage

__all__ = ["ChatServerError", "OpenAIChatRunner"]


class ChatServerError(RuntimeError):
    """The chat server could not be reached or answered with an error."""


class OpenAIChatRunner:
    """A :class:`~surrogates.llm.runner.ChatRunner` over ``base_url``'s chat completions,
    asking for ``model``; ``api_key`` is sent as a bearer token when given. ``client`` lets a
    caller share an ``httpx.Client`` (its own one is created otherwise)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.headers = headers
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield the reply's text pieces as the server streams them (``seed`` is passed on;
        whether sampling is reproducible is the server's business)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "stream": True,
        }
        if seed is not None:
            body["seed"] = seed
        try:
            with self.client.stream("POST", self.url, json=body, headers=self.headers) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:500]
                    raise ChatServerError(f"{self.url} answered HTTP {response.status_code}: {detail}")
                yield from _events(response.iter_lines(), self.url)
        except httpx.HTTPError as exc:
            raise ChatServerError(f"cannot talk to the chat server at {self.url}: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _events(lines: Iterator[str], url: str) -> Iterator[str]:
    """Text pieces from server-sent-event ``lines`` (``data:`` lines; comments and other
    fields ignored) until ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ChatServerError(f"{url} sent an event that is not JSON: {data[:200]!r}") from exc
        if isinstance(chunk, dict) and chunk.get("error"):
            raise ChatServerError(f"{url} reported an error: {chunk['error']}")
        for choice in chunk.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield str(piece)
