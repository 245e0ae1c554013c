"""A Python client of the designsvc REST API: the one class users import.

>>> from designsvc.client import Client
>>> with Client("http://127.0.0.1:8000") as client:           # doctest: +SKIP
...     job = client.submit(spec)
...     final = client.wait(job["id"], timeout_s=600)
...     result = client.result(job["id"])

Every method returns the server's JSON document (a dict or list), except :meth:`artifact`
(bytes), :meth:`batch_csv` (text) and :meth:`events` (an iterator of events). An error
answer (RFC 9457 problem+json) raises :class:`ClientError`, which keeps the problem document
and its field errors with their JSON pointers; a server that cannot be reached raises
:class:`ServerUnreachableError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from designsvc.core.errors import DesignsvcError
from designsvc.core.types import JsonDict

__all__ = [
    "DEFAULT_URL",
    "TERMINAL_STATUSES",
    "Client",
    "ClientError",
    "FieldProblem",
    "ServerEvent",
    "ServerUnreachableError",
]

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class FieldProblem:
    """One field error of a problem document: a JSON ``pointer`` into the request body, or a
    named ``parameter`` (query, path or header)."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    location: str | None = None

    def __str__(self) -> str:
        if self.pointer is not None:
            return f"{self.pointer or '/'}: {self.detail}"
        if self.parameter is not None:
            where = f"{self.location} parameter " if self.location else ""
            return f"{where}{self.parameter}: {self.detail}"
        return self.detail


class ClientError(DesignsvcError):
    """The server answered with an error. ``status`` is the HTTP status, ``problem`` the
    RFC 9457 document (``type``, ``title``, ``detail``, ``errors``, extensions), ``errors``
    its field errors. ``lines()`` gives one human line per field error (or the detail)."""

    def __init__(self, status: int, problem: JsonDict, *, method: str = "", url: str = "") -> None:
        self.status = status
        self.problem = problem
        self.method = method
        self.url = url
        self.type = str(problem.get("type") or "about:blank")
        self.title = str(problem.get("title") or f"HTTP {status}")
        self.detail = str(problem.get("detail") or self.title)
        self.errors: tuple[FieldProblem, ...] = tuple(_field_problems(problem.get("errors")))
        super().__init__(f"{status} {self.title}: {self.detail}")

    def lines(self) -> list[str]:
        """One line per field error (``/limits/time_limit_s: ...``), or the detail."""
        return [str(e) for e in self.errors] or [self.detail]


class ServerUnreachableError(DesignsvcError):
    """No answer from the server: connection refused, DNS failure, or a timeout."""

    def __init__(self, base_url: str, cause: Exception) -> None:
        self.base_url = base_url
        self.cause = cause
        reason = str(cause) or type(cause).__name__
        super().__init__(f"cannot reach the designsvc server at {base_url}: {reason}")


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event of a job: ``id`` (None for the closing ``end`` event), its
    ``type`` (``stage``, ``progress``, ``status``, ``log``, ``end``) and ``data`` (the
    parsed JSON data line: ``{"id", "type", "at", "data"}`` for stored events)."""

    id: int | None
    type: str
    data: Any = field(default=None)


def _field_problems(raw: Any) -> Iterator[FieldProblem]:
    if not isinstance(raw, list):
        return
    for item in raw:
        if not isinstance(item, dict):
            yield FieldProblem(detail=str(item))
            continue
        detail = str(item.get("detail") or item.get("message") or "invalid value")
        pointer = item.get("pointer")
        yield FieldProblem(
            detail=detail,
            pointer=str(pointer) if pointer is not None else None,
            parameter=item.get("parameter"),
            location=item.get("in"),
        )


def _problem_of(response: httpx.Response) -> JsonDict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = response.text.strip()
    return {"title": response.reason_phrase or f"HTTP {response.status_code}", "detail": text[:500] or None}


def _segment(value: str) -> str:
    return quote(value, safe="")


class Client:
    """A client of the designsvc server at ``base_url``. ``timeout_s`` bounds each request
    (streams of events wait without a read timeout); ``api_key`` is sent as a bearer token.
    Use it as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = 30,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        headers = {"Accept": "application/json, application/problem+json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, headers=headers, transport=transport, follow_redirects=False
        )

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # connect errors, timeouts, broken connections
            raise ServerUnreachableError(self.base_url, exc) from exc
        if response.is_error:
            raise ClientError(response.status_code, _problem_of(response), method=method, url=str(response.url))
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- jobs -------------------------------------------------------------------------------

    def submit(self, spec: Any, *, idempotency_key: str | None = None) -> JsonDict:
        """Submit a job spec (a dict, as in the spec documents); return the job (queued).
        With an ``idempotency_key`` already used for the same spec, the server returns the
        job it made first."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: JsonDict = self._json("POST", "/v1/jobs", json=spec, headers=headers)
        return result

    def get(self, job_id: str) -> JsonDict:
        """The job (status, attempts, timestamps, spec, error)."""
        result: JsonDict = self._json("GET", f"/v1/jobs/{_segment(job_id)}")
        return result

    def result(self, job_id: str) -> JsonDict:
        """The result document of a finished job; ClientError 409 while it runs."""
        result: JsonDict = self._json("GET", f"/v1/jobs/{_segment(job_id)}/result")
        return result

    def wait(self, job_id: str, *, timeout_s: float | None = None, poll_s: float = 0.5) -> JsonDict:
        """Poll the job until it ends (succeeded, failed or canceled); return the final job.
        TimeoutError after ``timeout_s`` seconds (None: wait for ever)."""
        if poll_s <= 0:
            raise ValueError("poll_s must be > 0")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job.get("status") in TERMINAL_STATUSES:
                return job
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.get('status')} after {timeout_s} s")
                time.sleep(min(poll_s, left))
            else:
                time.sleep(poll_s)

    def cancel(self, job_id: str) -> JsonDict:
        """Ask the job to stop (a running solver keeps its best design); return the job."""
        result: JsonDict = self._json("POST", f"/v1/jobs/{_segment(job_id)}/cancel")
        return result

    def delete(self, job_id: str) -> None:
        """Delete a finished job with its result and artifacts (ClientError 409 while it runs)."""
        self._request("DELETE", f"/v1/jobs/{_segment(job_id)}")

    def list(
        self,
        *,
        status: str | None = None,
        tag: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> JsonDict:
        """One page of jobs, oldest first: ``{"items": [...], "next_cursor": ...}``."""
        params = {"status": status, "tag": tag, "cursor": cursor, "limit": limit}
        result: JsonDict = self._json("GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None})
        return result

    def events(self, job_id: str, after: int = 0) -> Iterator[ServerEvent]:
        """The job's events with ``id > after``, as they happen, until the job ends (the last
        one is the ``end`` event). Reconnects with ``Last-Event-ID`` if the stream breaks."""
        last = after
        reconnects = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = str(last)
            try:
                with self._http.stream(
                    "GET",
                    f"/v1/jobs/{_segment(job_id)}/events",
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout_s, read=None),
                ) as response:
                    if response.is_error:
                        response.read()
                        raise ClientError(
                            response.status_code, _problem_of(response), method="GET", url=str(response.url)
                        )
                    for event in _parse_sse(response.iter_lines()):
                        if event.id is not None:
                            last = event.id
                        reconnects = 0
                        yield event
                        if event.type == "end":
                            return
            except httpx.TransportError as exc:
                reconnects += 1
                if reconnects > 3:
                    raise ServerUnreachableError(self.base_url, exc) from exc
                time.sleep(0.5 * reconnects)
                continue
            # The server closed the stream without an end event: resume after the last one.
            reconnects += 1
            if reconnects > 3:
                return
            time.sleep(0.2)

    def artifact(self, job_id: str, name: str) -> bytes:
        """The bytes of one artifact of a job."""
        return self._request("GET", f"/v1/jobs/{_segment(job_id)}/artifacts/{_segment(name)}").content

    def validate(self, spec: Any) -> JsonDict:
        """Check a spec and build its model without solving: the model's size."""
        result: JsonDict = self._json("POST", "/v1/jobs:validate", json=spec)
        return result

    # -- batches ----------------------------------------------------------------------------

    def submit_batch(self, request: Any) -> JsonDict:
        """Submit a batch (a scenario grid); return the batch."""
        result: JsonDict = self._json("POST", "/v1/batches", json=request)
        return result

    def batch(self, batch_id: str) -> JsonDict:
        """The batch: counters by status, ``done``, and the aggregate table."""
        result: JsonDict = self._json("GET", f"/v1/batches/{_segment(batch_id)}")
        return result

    def batch_csv(self, batch_id: str) -> str:
        """The batch's aggregate table as CSV text."""
        return self._request("GET", f"/v1/batches/{_segment(batch_id)}/table.csv").text

    def wait_batch(self, batch_id: str, *, timeout_s: float | None = None, poll_s: float = 1.0) -> JsonDict:
        """Poll the batch until every job has ended; return it. TimeoutError after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            batch = self.batch(batch_id)
            if batch.get("done"):
                return batch
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"batch {batch_id} has {batch.get('finished')}/{batch.get('jobs')} jobs done")
            time.sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - time.monotonic())))

    # -- catalog and health -----------------------------------------------------------------

    def problems(self) -> Any:
        """The registered problem kinds."""
        return self._json("GET", "/v1/problems")

    def solvers(self) -> Any:
        """The registered solvers, their availability and capabilities."""
        return self._json("GET", "/v1/solvers")

    def health(self) -> JsonDict:
        """``/healthz``: the server process answers."""
        result: JsonDict = self._json("GET", "/healthz")
        return result

    def ready(self) -> JsonDict:
        """``/readyz``: the store (and executor) can be used; ClientError 503 if not."""
        result: JsonDict = self._json("GET", "/readyz")
        return result


def _parse_sse(lines: Iterator[str]) -> Iterator[ServerEvent]:
    """Parse a ``text/event-stream`` (WHATWG HTML, Server-sent events): ``id:``, ``event:``,
    ``data:`` fields, comments (``:``) ignored, an event dispatched at each blank line."""
    event_id: str | None = None
    event_type = ""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data or event_type:
                yield _server_event(event_id, event_type or "message", data)
            event_id, event_type, data = None, "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id":
            event_id = value
    if data or event_type:
        yield _server_event(event_id, event_type or "message", data)


def _server_event(event_id: str | None, event_type: str, data: list[str]) -> ServerEvent:
    text = "\n".join(data)
    try:
        payload: Any = json.loads(text) if text else None
    except ValueError:
        payload = text
    parsed_id = int(event_id) if event_id and event_id.isdigit() else None
    return ServerEvent(id=parsed_id, type=event_type, data=payload)
