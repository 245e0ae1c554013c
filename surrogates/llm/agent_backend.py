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

__all__ = ["LocalAgentBackend"]

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
