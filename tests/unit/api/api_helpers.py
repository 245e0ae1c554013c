"""Helpers of the API tests: waiting for jobs, reading SSE streams, checking problem
documents."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi.testclient import TestClient

from designsvc.core.jobs import JobStatus

MAX_BODY_BYTES = 64 * 1024
SMALL_SPEC: dict[str, Any] = {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3"}
TERMINAL = {s.value for s in JobStatus if s.terminal}
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance")


def wait_for_job(client: TestClient, job_id: str, statuses: set[str] = TERMINAL, timeout_s: float = 90.0) -> Any:
    """Poll ``GET /v1/jobs/{id}`` until the job is in one of ``statuses``; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s")
        time.sleep(0.05)


def parse_sse(text: str) -> list[dict[str, str]]:
    """SSE blocks as dicts (``id``, ``event``, ``data``; ``comment`` for ``:`` lines)."""
    blocks: list[dict[str, str]] = []
    for raw in text.replace("\r\n", "\n").split("\n\n"):
        if not raw.strip():
            continue
        block: dict[str, str] = {}
        for line in raw.split("\n"):
            if line.startswith(":"):
                block["comment"] = line[1:].strip()
                continue
            field, _, value = line.partition(":")
            block[field] = value.removeprefix(" ")
        blocks.append(block)
    return blocks


def assert_problem(response: httpx.Response, status: int, *, slug: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    for member in PROBLEM_MEMBERS:
        assert member in body, (member, body)
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if slug is not None:
        assert body["type"] == f"urn:designsvc:problem:{slug}", body
    return body
