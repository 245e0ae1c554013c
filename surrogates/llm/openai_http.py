"""A chat runner for an OpenAI-compatible HTTP server (``POST {base_url}/chat/completions``).

For users who run their own model server (llama.cpp's ``llama-server``, vLLM, Ollama, ...):
the request asks for ``"stream": true`` and the reply is read as server-sent events, one
``data: {json}`` line per chunk whose ``choices[0].delta.content`` is the next piece of text,
until ``data: [DONE]`` (a server that answers one ``application/json`` completion instead is
read too). ``base_url`` is the API root (e.g. ``http://127.0.0.1:8080/v1``).
Errors (refused connection, HTTP status, an ``error`` object in the stream) raise
:class:`ChatServerError` with the server's message.

Structured output (:meth:`OpenAIChatRunner.fill`): the JSON Schema to fill is sent the way
OpenAI-compatible servers take it, ``"response_format": {"type": "json_schema",
"json_schema": {"name", "schema", "strict": true}}``, so a server that supports it constrains
its decoding to the schema (vLLM, llama.cpp and OpenAI do; OpenAI's strict mode also wants
every property required and ``additionalProperties: false``). Not every server honours it, so
the reply is parsed and checked against the schema (:mod:`surrogates.llm.schema_check`:
``jsonschema`` when installed, pydantic for a pydantic model, else a built-in checker); a
reply that does not fit is sent back once with what is wrong, and a second misfit raises
:class:`StructuredOutputError`. ``fill`` never returns a value outside the schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from surrogates.llm.runner import ChatMessage
from surrogates.llm.schema_check import json_schema_of, schema_errors

__all__ = ["ChatServerError", "OpenAIChatRunner", "StructuredOutputError", "response_format"]


class ChatServerError(RuntimeError):
    """The chat server could not be reached or answered with an error."""


class StructuredOutputError(ChatServerError):
    """The server's reply was not JSON that fits the schema, also after the retry; ``errors``
    are the last reply's problems (``"/pointer: message"``) and ``text`` the reply."""

    def __init__(self, message: str, *, errors: Sequence[str], text: str) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.text = text


_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)


def response_format(schema: Any, name: str | None = None, *, strict: bool = True) -> dict[str, Any]:
    """The ``response_format`` member that asks an OpenAI-compatible server for JSON fitting
    ``schema`` (a JSON Schema document or a pydantic model class); ``name`` (default: the
    schema's title, else ``response``) is cut to the 64 letters, digits, ``_`` and ``-`` that
    OpenAI allows."""
    document = json_schema_of(schema)
    label = _NAME.sub("_", name or str(document.get("title") or "response")).strip("_")[:64] or "response"
    return {"type": "json_schema", "json_schema": {"name": label, "schema": document, "strict": strict}}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_reply(text: str) -> tuple[Any, str | None]:
    """The JSON value of a reply (surrounding blanks and a Markdown code fence are tolerated),
    or None and what is wrong with it."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body:
        return None, "the reply is empty: expected a JSON value"
    try:
        return json.loads(body, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"the reply is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        return None, f"the reply is not valid JSON: {exc}"


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
        response_format: Mapping[str, Any] | None = None,
    ) -> Iterator[str]:
        """Yield the reply's text pieces as the server streams them (``seed`` is passed on;
        whether sampling is reproducible is the server's business). ``response_format`` is
        sent as it is (see :func:`response_format`)."""
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
        if response_format is not None:
            body["response_format"] = dict(response_format)
        try:
            with self.client.stream("POST", self.url, json=body, headers=self.headers) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:500]
                    raise ChatServerError(f"{self.url} answered HTTP {response.status_code}: {detail}")
                if response.headers.get("content-type", "").startswith("application/json"):
                    yield from _whole(response.read(), self.url)  # a server that does not stream
                else:
                    yield from _events(response.iter_lines(), self.url)
        except httpx.HTTPError as exc:
            raise ChatServerError(f"cannot talk to the chat server at {self.url}: {exc}") from exc

    def fill(
        self,
        messages: Sequence[ChatMessage],
        schema: Any,
        *,
        name: str | None = None,
        on_piece: Callable[[str], None] | None = None,
        check: Callable[[], None] | None = None,
        max_new_tokens: int = 1024,
        retries: int = 1,
    ) -> Any:
        """The JSON value the server writes for ``schema`` (a JSON Schema document or a
        pydantic model class) as the reply to ``messages``, asked for with
        :func:`response_format` and checked against the schema. A reply that is not JSON or
        does not fit is answered with what is wrong and asked again (``retries`` times, once
        by default); then :class:`StructuredOutputError`. Every piece of text streams to
        ``on_piece`` (a retry's text follows a newline); ``check`` runs before each piece
        (raise there to stop: a cancel). Greedy (temperature 0)."""
        emit = on_piece or (lambda piece: None)
        stop = check or (lambda: None)
        fmt = response_format(schema, name)
        label = fmt["json_schema"]["name"]
        chat: list[ChatMessage] = [{"role": m["role"], "content": m["content"]} for m in messages]
        problems: list[str] = []
        text = ""
        for attempt in range(retries + 1):
            if attempt:
                emit("\n")
            stop()
            pieces: list[str] = []
            for piece in self.stream_chat(chat, max_new_tokens, temperature=0.0, response_format=fmt):
                stop()
                pieces.append(piece)
                emit(piece)
            text = "".join(pieces)
            value, parse_error = parse_reply(text)
            problems = [parse_error] if parse_error is not None else schema_errors(value, schema)
            if not problems:
                return value
            chat += [
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": "That reply does not fit the required JSON Schema "
                    f"{label!r}: {'; '.join(problems)}. Answer again with only the JSON value, "
                    "fixed so that it fits the schema.",
                },
            ]
        raise StructuredOutputError(
            f"{self.url} (model {self.model}) gave no JSON fitting the schema {label!r} in "
            f"{retries + 1} attempt(s); last problems: {'; '.join(problems)}",
            errors=problems,
            text=text,
        )

    def close(self) -> None:
        self.client.close()


def _whole(raw: bytes, url: str) -> Iterator[str]:
    """The text of a non-streamed completion (``choices[0].message.content``)."""
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ChatServerError(f"{url} answered JSON that does not parse: {raw[:200]!r}") from exc
    if not isinstance(document, dict):
        raise ChatServerError(f"{url} answered {type(document).__name__}, not a completion object")
    if document.get("error"):
        raise ChatServerError(f"{url} reported an error: {document['error']}")
    for choice in document.get("choices") or []:
        content = (choice.get("message") or {}).get("content")
        if content:
            yield str(content)


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
