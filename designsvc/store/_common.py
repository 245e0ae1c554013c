"""Validation and encodings shared by the job stores (internal to designsvc.store).

Both stores validate every argument before they write anything, so an invalid call raises
(ValueError, TypeError) and leaves stored data untouched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from designsvc.core.errors import JobNotFoundError
from designsvc.core.ids import new_id
from designsvc.core.jobs import DEFAULT_TENANT, TRANSITIONS, BatchRecord, JobStatus, now_rfc3339
from designsvc.core.types import PLAIN_NAME, Artifact, JsonDict

__all__ = [
    "CANCELED_BEFORE_START",
    "FINISHED",
    "MAX_EVENT_LIMIT",
    "MAX_PAGE_LIMIT",
    "MIB",
    "TENANT_NAME",
    "UNFINISHED",
    "check_artifact",
    "check_id",
    "check_idempotency_key",
    "check_name",
    "check_page_limit",
    "check_problem",
    "check_read_events",
    "check_record_key",
    "check_tags",
    "check_tenant",
    "check_transition",
    "decode_cursor",
    "dumps",
    "dumps_object",
    "encode_cursor",
    "loads_list",
    "loads_object",
    "new_batch",
    "replace_file_atomically",
    "require_known_id",
    "sha256_hex",
    "status_event_data",
    "write_temp_file",
]

MIB = 1024 * 1024
"""Bytes in a mebibyte."""

MAX_PAGE_LIMIT = 10_000
"""The largest ``limit`` list_jobs takes."""

MAX_EVENT_LIMIT = 100_000
"""The largest ``limit`` read_events takes."""

TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""What a tenant name (and a record collection) may be."""

UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELING)
"""The statuses a job has until it ends."""

FINISHED = tuple(s for s in JobStatus if s.terminal)
"""The statuses of a job that has ended."""


CANCELED_BEFORE_START: JsonDict = {"type": "Canceled", "message": "canceled before it started"}
"""The error of a job canceled while it was still queued."""

_CURSOR_PREFIX = "v1:"


def check_name(name: object, what: str = "artifact name") -> str:
    """Return ``name`` when it is a plain file name (``^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$``:
    no separators, no leading dot, so never a path out of its directory); else ValueError."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise ValueError(f"invalid {what} {name!r}: use 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    return name


def check_id(item_id: object, what: str = "job") -> str:
    """Job and batch ids name directories and keys, so they follow the file-name rule."""
    return check_name(item_id, f"{what} id")


def require_known_id(item_id: object, what: str = "job") -> str:
    """Ids that no store could have made cannot be found: JobNotFoundError for those (never
    a key or path built from one)."""
    if not isinstance(item_id, str) or not PLAIN_NAME.fullmatch(item_id):
        raise JobNotFoundError(what, str(item_id))
    return item_id


def check_idempotency_key(key: str | None) -> str | None:
    """``None`` or a non-empty string of at most 256 characters."""
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > 256:
        raise ValueError(f"invalid idempotency key {key!r}: use 1-256 characters")
    return key


def check_problem(problem: object) -> str:
    """A problem id is a non-empty string of at most 256 characters."""
    if not isinstance(problem, str) or not 0 < len(problem) <= 256:
        raise ValueError(f"invalid problem id {problem!r}")
    return problem


def check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags as a tuple (a bare string is refused: it would become one tag per character)."""
    if isinstance(tags, str | bytes):
        raise TypeError("tags must be a sequence of strings, not a string")
    out = tuple(tags)
    for tag in out:
        if not isinstance(tag, str) or not tag or len(tag) > 256:
            raise ValueError(f"invalid tag {tag!r}: use 1-256 characters")
    return out


def check_transition(expected: Collection[JobStatus], to: JobStatus) -> tuple[frozenset[JobStatus], JobStatus]:
    """Normalize a transition's arguments; ValueError when ``expected`` is empty or any of
    its statuses may not move to ``to`` under TRANSITIONS (a programming error, refused
    before the store is read, whatever the job's current status)."""
    # A bare JobStatus is a str (iterating it would give letters): take it as one status.
    statuses: Collection[str] = (expected,) if isinstance(expected, str) else expected
    wanted = frozenset(JobStatus(s) for s in statuses)
    target = JobStatus(to)
    if not wanted:
        raise ValueError("expected must name at least one status")
    forbidden = sorted(s.value for s in wanted if target not in TRANSITIONS[s])
    if forbidden:
        raise ValueError(f"TRANSITIONS forbids {', '.join(forbidden)} -> {target.value}")
    return wanted, target


def check_page_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValueError(f"limit must be an integer in 1..{MAX_PAGE_LIMIT}, got {limit!r}")
    return limit


def check_read_events(after: int, limit: int) -> None:
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError(f"after must be an integer >= 0, got {after!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENT_LIMIT:
        raise ValueError(f"limit must be an integer in 1..{MAX_EVENT_LIMIT}, got {limit!r}")


def check_artifact(artifact: Artifact) -> bytes:
    """Validate an artifact's name and media type; return its data as bytes."""
    check_name(artifact.name)
    if not isinstance(artifact.media_type, str) or not 0 < len(artifact.media_type) <= 255:
        raise ValueError(f"invalid media type {artifact.media_type!r}")
    if not isinstance(artifact.data, bytes | bytearray | memoryview):
        raise TypeError(f"artifact data must be bytes, got {type(artifact.data).__name__}")
    return bytes(artifact.data)


def status_event_data(to: JobStatus, attempts: int) -> JsonDict:
    """The data of the ``status`` event a transition appends."""
    return {"status": to.value, "attempts": attempts}


def dumps(value: Any) -> str:
    """Compact JSON; TypeError for what JSON cannot hold."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumps_object(value: Any, what: str) -> str:
    """Compact JSON of a JSON object (a dict with string keys); TypeError for anything
    else, so that no record is stored that could not be read back as a JsonDict."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a JSON object (dict), got {type(value).__name__}")
    return dumps(value)


def loads_object(text: str | bytes) -> JsonDict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def encode_cursor(position: int) -> str:
    """An opaque cursor for the store's insertion position ``position``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The insertion position in a cursor made by :func:`encode_cursor`; ValueError otherwise."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    digits = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"invalid cursor {cursor!r}")
    return int(digits)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_temp_file(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new hidden temporary file in ``directory`` (created if missing),
    flushed to disk; the caller moves it into place with :func:`replace_file_atomically`."""
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f".{name}.{secrets.token_hex(8)}.tmp"
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def replace_file_atomically(temp: Path, target: Path) -> None:
    """Move ``temp`` onto ``target`` in one step (readers see the old or the new file)."""
    os.replace(temp, target)
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - directories cannot be opened on some systems
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def loads_list(text: str) -> list[Any]:
    value = json.loads(text)
    if not isinstance(value, list):
        raise TypeError(f"expected a JSON array, got {type(value).__name__}")
    return value


def check_tenant(tenant: object) -> str:
    """A tenant name: 1-64 letters, digits, ``.``, ``_`` or ``-``."""
    if not isinstance(tenant, str) or not TENANT_NAME.fullmatch(tenant):
        raise ValueError(f"invalid tenant {tenant!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return tenant


def check_record_key(collection: object, key: object) -> tuple[str, str]:
    """A record's collection (a plain name) and key (1-256 characters, no NUL)."""
    if not isinstance(collection, str) or not TENANT_NAME.fullmatch(collection):
        raise ValueError(f"invalid record collection {collection!r}")
    if not isinstance(key, str) or not 0 < len(key) <= 256 or "\x00" in key:
        raise ValueError(f"invalid record key {key!r}: use 1-256 characters")
    return collection, key


def new_batch(
    *,
    request: JsonDict,
    job_ids: Sequence[str],
    cells: Sequence[JsonDict],
    tags: Sequence[str],
    batch_id: str | None,
    tenant: str = DEFAULT_TENANT,
) -> BatchRecord:
    """A new batch record from validated arguments: ValueError when ``cells`` is neither
    empty nor one per job or ``batch_id`` is invalid; TypeError for what JSON cannot hold."""
    if isinstance(job_ids, str):
        raise TypeError("job_ids must be a sequence of ids, not a string")
    ids = tuple(job_ids)
    cell_tuple = tuple(cells)
    if cell_tuple and len(cell_tuple) != len(ids):
        raise ValueError(f"a batch of {len(ids)} jobs needs one cell per job or none, got {len(cell_tuple)}")
    batch = BatchRecord(
        id=new_id() if batch_id is None else check_id(batch_id, "batch"),
        created_at=now_rfc3339(),
        request=request,
        job_ids=ids,
        cells=cell_tuple,
        tags=check_tags(tags),
        tenant=check_tenant(tenant),
    )
    dumps_object(batch.request, "a batch request")  # TypeError now rather than half-way
    for cell in batch.cells:
        dumps_object(cell, "a batch cell")
    return batch
