"""The spec-writing agent's model backend (registry ``designsvc.agent_backends``, name ``local``).

It runs where jobs run (an agent turn is a job on the ``gpu`` queue: a Celery gpu worker or
the embedded process pool), never in the API process. A worker process keeps one loaded
runner per model and settings, so only its first turn pays the load (seconds from the cached
safetensors copy; about a minute the very first time, when the GGUF file is converted).

:meth:`LocalAgentBackend.fill` writes the value of a JSON Schema as the assistant's reply to a
chat, with :class:`~surrogates.llm.constrained.JsonSchemaDecoder` (greedy, constrained to the
schema) over a :class:`~surrogates.llm.local.LocalRunner` and its StreamingLLM sink cache, so an
over-long chat is streamed through the window instead of failing. A missing model raises
:class:`~surrogates.llm.errors.ModelSetupError`, whose message says what to install.

Options: ``model`` (``smollm2-135m-instruct``, the default, or a local transformers directory),
``device`` (``auto`` | ``cpu`` | ``cuda``), ``window`` (cache slots after the sinks, default
2044), ``sinks`` (default 4).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from surrogates.llm.constrained import JsonSchemaDecoder
from surrogates.llm.runner import ChatMessage

__all__ = ["LocalAgentBackend", "OpenAIAgentBackend"]

_OPTIONS = {"model": str, "device": str, "window": int, "sinks": int}
_DECODERS: dict[tuple[Any, ...], JsonSchemaDecoder] = {}
_LOCK = threading.Lock()


class LocalAgentBackend:
    """A local model that fills JSON Schemas (see the module docstring)."""

    name: ClassVar[str] = "local"
    queue: ClassVar[str] = "gpu"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        self.check_options(options)
        self.model = options.get("model")
        self.device = str(options.get("device", "auto"))
        self.window = int(options.get("window", 2044))
        self.sinks = int(options.get("sinks", 4))
        self._decoder: JsonSchemaDecoder | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ValueError naming a bad option (``option 'x': ...``)."""
        for key, value in options.items():
            if key not in _OPTIONS:
                raise ValueError(f"option {key!r}: unknown; known: {', '.join(sorted(_OPTIONS))}")
            if not isinstance(value, _OPTIONS[key]) or isinstance(value, bool):
                raise ValueError(f"option {key!r}: expected {_OPTIONS[key].__name__}")
        if "window" in options and not 16 <= options["window"] <= 1 << 20:
            raise ValueError("option 'window': must be in 16..1048576")
        if "sinks" in options and not 0 <= options["sinks"] <= 64:
            raise ValueError("option 'sinks': must be in 0..64")

    def decoder(self) -> JsonSchemaDecoder:
        """This process's decoder for these settings (the model is loaded on first use)."""
        if self._decoder is None:
            key = (self.model, self.device, self.window, self.sinks)
            with _LOCK:
                decoder = _DECODERS.get(key)
                if decoder is None:
                    from surrogates.llm.runner import open_runner

                    runner = open_runner(self.model, device=self.device, window=self.window, sinks=self.sinks)
                    decoder = JsonSchemaDecoder(runner)
                    _DECODERS[key] = decoder
            self._decoder = decoder
        return self._decoder

    def fingerprint(self) -> str | None:
        loaded = getattr(self.decoder().runner, "loaded", None)
        return getattr(loaded, "fingerprint", None)

    def fill(
        self,
        messages: Sequence[ChatMessage],
        schema: dict[str, Any],
        *,
        on_piece: Callable[[str], None],
        check: Callable[[], None],
    ) -> Any:
        """The model's value for ``schema`` after ``messages``; pieces stream to ``on_piece``."""
        decoder = self.decoder()
        with _LOCK:  # one conversation at a time per runner
            return decoder.fill(messages, schema, on_piece=on_piece, check=check)


class OpenAIAgentBackend:
    """The agent on an OpenAI-compatible server the operator runs (vLLM, llama.cpp's server,
    TGI, ...), registry name ``openai``. The server is configured where the turn runs, by the
    worker's environment, never by a request (a request naming a URL would let any caller make
    the workers send requests where it likes): ``DESIGNSVC_AGENT_OPENAI_URL`` (the API base,
    ``http://HOST:PORT/v1``), ``DESIGNSVC_AGENT_OPENAI_MODEL`` (the served model's name) and
    ``DESIGNSVC_AGENT_OPENAI_KEY`` (optional bearer token). Option ``model`` picks another model
    the same server serves.

    Each form is asked for with ``response_format`` (``json_schema``, strict); since not every
    server honours it, the reply is checked against the schema and asked again once with what is
    wrong, then the turn fails with :class:`~surrogates.llm.openai_http.StructuredOutputError`
    (see :meth:`~surrogates.llm.openai_http.OpenAIChatRunner.fill`): no value outside the schema
    is ever returned."""

    name: ClassVar[str] = "openai"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        import os

        options = dict(options or {})
        self.check_options(options)
        self.url = os.environ.get("DESIGNSVC_AGENT_OPENAI_URL", "").strip()
        self.model = str(options.get("model") or os.environ.get("DESIGNSVC_AGENT_OPENAI_MODEL", "")).strip()
        self.api_key = os.environ.get("DESIGNSVC_AGENT_OPENAI_KEY") or None
        self._runner: Any = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ValueError naming a bad option (only ``model``, a name, is taken)."""
        for key, value in options.items():
            if key != "model":
                raise ValueError(f"option {key!r}: unknown; known: model (the server is the worker's setting)")
            if not isinstance(value, str) or not 0 < len(value) <= 200:
                raise ValueError("option 'model': expected the served model's name")

    def runner(self) -> Any:
        if self._runner is None:
            from surrogates.llm.errors import ModelSetupError
            from surrogates.llm.openai_http import OpenAIChatRunner

            if not self.url or not self.model:
                raise ModelSetupError(
                    "the openai agent backend needs the worker's DESIGNSVC_AGENT_OPENAI_URL (http://HOST:PORT/v1) "
                    "and DESIGNSVC_AGENT_OPENAI_MODEL (or the option model)"
                )
            self._runner = OpenAIChatRunner(self.url, self.model, api_key=self.api_key)
        return self._runner

    def fingerprint(self) -> str | None:
        return f"openai:{self.model}@{self.url}" if self.url else None

    def fill(
        self,
        messages: Sequence[ChatMessage],
        schema: dict[str, Any],
        *,
        on_piece: Callable[[str], None],
        check: Callable[[], None],
    ) -> Any:
        """The server's value for ``schema`` after ``messages`` (checked against it)."""
        return self.runner().fill(messages, schema, on_piece=on_piece, check=check)
