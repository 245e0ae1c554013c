"""The embedded job store: one SQLite file in WAL mode.

Safe from several threads (one connection per thread) and several processes (every write is
a ``BEGIN IMMEDIATE`` transaction, so a compare-and-set reads and writes under SQLite's
single write lock; readers never block writers in WAL mode). The schema version lives in
``PRAGMA user_version`` and :func:`migrate` brings an older file up to date.

Listing order is insertion order (an AUTOINCREMENT ``seq`` assigned under the write lock),
which is creation order, so cursor paging sees every job once, even jobs created while it
pages (a job created later always sorts after the cursor). Artifacts up to
``inline_artifact_max_bytes`` are kept in the database; larger ones are files
``artifact_dir/JOB_ID/NAME`` written to a temporary file and moved into place; with
``artifact_quota_bytes`` the sizes of those files (summed from the ``artifacts`` table under
the write lock, so every process sees the same total) may not exceed it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from designsvc.core.errors import (
    ArtifactNotFoundError,
    ArtifactQuotaExceededError,
    IdempotencyConflictError,
    JobNotFoundError,
    StoreError,
    TransitionConflictError,
)
from designsvc.core.ids import new_id
from designsvc.core.jobs import (
    DEFAULT_TENANT,
    ArtifactInfo,
    BatchRecord,
    JobEvent,
    JobPage,
    JobRecord,
    JobStatus,
    JobStore,
    now_rfc3339,
    spec_sha256,
)
from designsvc.core.types import Artifact, JsonDict
from designsvc.store._common import (
    CANCELED_BEFORE_START,
    FINISHED,
    MIB,
    UNFINISHED,
    check_artifact,
    check_id,
    check_idempotency_key,
    check_name,
    check_page_limit,
    check_problem,
    check_read_events,
    check_record_key,
    check_tags,
    check_tenant,
    check_transition,
    decode_cursor,
    dumps,
    dumps_object,
    encode_cursor,
    loads_list,
    loads_object,
    new_batch,
    replace_file_atomically,
    require_known_id,
    sha256_hex,
    status_event_data,
    write_temp_file,
)

__all__ = ["SCHEMA_VERSION", "SqliteJobStore", "migrate"]

log = logging.getLogger(__name__)

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1
    (
        """CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            spec TEXT NOT NULL,
            problem TEXT NOT NULL,
            tags TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            batch_id TEXT,
            idempotency_key TEXT UNIQUE,
            spec_sha256 TEXT NOT NULL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT
        )""",
        "CREATE INDEX jobs_status ON jobs (status, seq)",
        "CREATE INDEX jobs_batch ON jobs (batch_id, seq) WHERE batch_id IS NOT NULL",
        """CREATE TABLE job_tags (
            tag TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (tag, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE events (
            job_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (job_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE artifacts (
            job_id TEXT NOT NULL,
            name TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            data BLOB,
            path TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (job_id, name)
        )""",
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            request TEXT NOT NULL,
            job_ids TEXT NOT NULL,
            cells TEXT NOT NULL,
            tags TEXT NOT NULL
        )""",
    ),
    # version 2: tenants, the retention sweep's index, keyed records
    (
        "ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default'",
        "CREATE INDEX jobs_tenant ON jobs (tenant, status, seq)",
        "CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL",
        "ALTER TABLE batches ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default'",
        """CREATE TABLE records (
            collection TEXT NOT NULL,
            key TEXT NOT NULL,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (collection, key)
        ) WITHOUT ROWID""",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this module writes (``PRAGMA user_version``)."""

_JOB_COLUMNS = (
    "seq, id, status, spec, problem, tags, created_at, updated_at, started_at, finished_at, attempts, "
    "batch_id, idempotency_key, spec_sha256, cancel_requested, result, error, tenant"
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION` in one ``BEGIN IMMEDIATE`` transaction
    (so processes opening the file at once migrate it once); return the version found.
    StoreError when the file was written by a newer designsvc. ``conn`` must be in
    autocommit mode (``isolation_level=None``)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the job database has schema version {found}; this designsvc reads up to {SCHEMA_VERSION}"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
            log.info("job database migrated to schema version %d", version + 1)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"job database {path}: {exc}") from exc


_INHERITED_CONNECTIONS: list[_ThreadConnection] = []
"""Connections a forked child inherited; kept referenced so that they are never closed."""


class _ThreadConnection:
    """Holds one thread's connection; when the thread ends its holder is dropped and the
    connection closed with it."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()


class SqliteJobStore(JobStore):
    """Jobs in the SQLite file ``path`` (created with its directory if missing).

    ``artifact_dir`` (default: ``<path>.artifacts`` beside the file) receives artifacts of
    more than ``inline_artifact_max_bytes`` bytes; the database keeps each such file's
    absolute path, so another process finds it whatever its own setting.
    ``busy_timeout_s`` is how long a writer waits for another one's lock before StoreError.
    ``artifact_quota_bytes`` (None: no quota) caps the total size of the artifact files: a
    put that would exceed it raises StoreError and writes nothing.
    """

    def __init__(
        self,
        path: Path,
        *,
        artifact_dir: Path | None = None,
        inline_artifact_max_bytes: int = MIB,
        busy_timeout_s: float = 30.0,
        artifact_quota_bytes: int | None = None,
    ) -> None:
        if artifact_quota_bytes is not None and artifact_quota_bytes < 0:
            raise ValueError(f"artifact_quota_bytes must be >= 0 or None, got {artifact_quota_bytes}")
        if inline_artifact_max_bytes < 0:
            raise ValueError(f"inline_artifact_max_bytes must be >= 0, got {inline_artifact_max_bytes}")
        if busy_timeout_s <= 0:
            raise ValueError(f"busy_timeout_s must be > 0, got {busy_timeout_s}")
        self.path = Path(path).expanduser().resolve()
        self._default_artifact_dir = artifact_dir is None
        self.artifact_dir = (
            self.path.with_name(self.path.name + ".artifacts") if artifact_dir is None else Path(artifact_dir)
        )
        self.artifact_dir = self.artifact_dir.expanduser().resolve()
        self.inline_artifact_max_bytes = inline_artifact_max_bytes
        self.busy_timeout_s = busy_timeout_s
        self.artifact_quota_bytes = artifact_quota_bytes
        self._local = threading.local()
        self._holders: weakref.WeakSet[_ThreadConnection] = weakref.WeakSet()
        self._holders_lock = threading.Lock()
        self._closed = False
        self.url = self._make_url()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of the job database {self.path}: {exc}") from exc
        conn = self._conn()
        with _sqlite_errors(self.path):
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                log.warning(
                    "job database %s: journal mode is %s, not wal (a file system without WAL?)", self.path, mode
                )
            migrate(conn)

    # -- construction from a URL -------------------------------------------------------

    def _make_url(self) -> str:
        """``sqlite:///ABS/PATH``, with ``artifact_dir``/``inline_artifact_max_bytes`` query
        parameters when they differ from the defaults; :func:`designsvc.store.open_store`
        opens it again."""
        query: dict[str, str] = {}
        if not self._default_artifact_dir:
            query["artifact_dir"] = str(self.artifact_dir)
        if self.inline_artifact_max_bytes != MIB:
            query["inline_artifact_max_bytes"] = str(self.inline_artifact_max_bytes)
        if self.artifact_quota_bytes is not None:
            query["artifact_quota_bytes"] = str(self.artifact_quota_bytes)
        text = "sqlite://" + quote(str(self.path), safe="/")
        return text + ("?" + urlencode(query) if query else "")

    @classmethod
    def from_url(cls, url: str, *, default_path: Path | None = None) -> SqliteJobStore:
        """Open ``sqlite:///ABS/PATH[?artifact_dir=...&inline_artifact_max_bytes=N&artifact_quota_bytes=N]``;
        ``sqlite://`` alone opens ``default_path``. StoreError for a malformed URL."""
        parts = urlsplit(url)
        if parts.scheme != "sqlite":
            raise StoreError(f"not a sqlite URL: {url!r}")
        if parts.netloc:
            raise StoreError(f"sqlite URLs take an absolute path: sqlite:///ABS/PATH, not {url!r}")
        if parts.path:
            # sqlite:///ABS/PATH; sqlite:////ABS/PATH (SQLAlchemy's spelling) means the same.
            path = Path("/" + unquote(parts.path).lstrip("/"))
        elif default_path is not None:
            path = default_path
        else:
            raise StoreError(f"the sqlite URL {url!r} names no file")
        kwargs: dict[str, Any] = {}
        for key, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
            value = values[-1]
            if key == "artifact_dir":
                kwargs["artifact_dir"] = Path(value)
            elif key in {"inline_artifact_max_bytes", "artifact_quota_bytes"}:
                try:
                    kwargs[key] = int(value)
                except ValueError as exc:
                    raise StoreError(f"{key} must be an integer in {url!r}") from exc
            else:
                raise StoreError(f"unknown option {key!r} in the sqlite URL {url!r}")
        return cls(path, **kwargs)

    # -- connections and transactions -----------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_s,
            isolation_level=None,  # autocommit; transactions are explicit BEGIN IMMEDIATE
            check_same_thread=False,  # only its thread uses it; close() may come from another
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the job store {self.path} is closed")
        holder: _ThreadConnection | None = getattr(self._local, "holder", None)
        if holder is None or holder.pid != os.getpid():
            if holder is not None:
                # Inherited through fork: the child must neither use nor close it.
                _INHERITED_CONNECTIONS.append(holder)
            with _sqlite_errors(self.path):
                holder = _ThreadConnection(self._connect())
            self._local.holder = holder
            with self._holders_lock:
                self._holders.add(holder)
        return holder.conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back
        when it raises."""
        conn = self._conn()
        with _sqlite_errors(self.path):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        conn = self._conn()
        with _sqlite_errors(self.path):
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close every thread's connection; the store cannot be used afterwards."""
        self._closed = True
        with self._holders_lock:
            holders = list(self._holders)
            self._holders.clear()
        for holder in holders:
            if holder.pid == os.getpid():
                holder.conn.close()

    def ping(self) -> None:
        self._read("SELECT 1 FROM jobs LIMIT 1")

    # -- jobs ------------------------------------------------------------------------

    def create_job(
        self,
        *,
        spec: JsonDict,
        problem: str,
        tags: Sequence[str] = (),
        idempotency_key: str | None = None,
        batch_id: str | None = None,
        job_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[JobRecord, bool]:
        """See :meth:`JobStore.create_job`; ValueError for an invalid or existing ``job_id``."""
        job_id = new_id() if job_id is None else check_id(job_id)
        check_problem(problem)
        check_tenant(tenant)
        if batch_id is not None:
            check_id(batch_id, "batch")
        check_idempotency_key(idempotency_key)
        tag_tuple = check_tags(tags)
        spec_json = dumps_object(spec, "spec")
        fingerprint = spec_sha256(spec)
        with self._write() as conn:
            if idempotency_key is not None:
                row = conn.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    if row["spec_sha256"] != fingerprint:
                        raise IdempotencyConflictError(idempotency_key, row["id"])
                    return _job_from_row(row), False
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None:
                raise ValueError(f"a job with id {job_id!r} exists already")
            now = now_rfc3339()
            cursor = conn.execute(
                "INSERT INTO jobs (id, status, spec, problem, tags, created_at, updated_at, batch_id, "
                "idempotency_key, spec_sha256, tenant) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    JobStatus.QUEUED.value,
                    spec_json,
                    problem,
                    dumps(list(tag_tuple)),
                    now,
                    now,
                    batch_id,
                    idempotency_key,
                    fingerprint,
                    tenant,
                ),
            )
            seq = cursor.lastrowid
            conn.executemany(
                "INSERT OR IGNORE INTO job_tags (tag, seq) VALUES (?, ?)", [(tag, seq) for tag in tag_tuple]
            )
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE seq = ?", (seq,)).fetchone()
        return _job_from_row(row), True

    def get_job(self, job_id: str) -> JobRecord:
        require_known_id(job_id)
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFoundError("job", job_id)
        return _job_from_row(rows[0])

    def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        tag: str | None = None,
        batch_id: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        tenant: str | None = None,
    ) -> JobPage:
        check_page_limit(limit)
        after = 0 if cursor is None else decode_cursor(cursor)
        where = ["j.seq > ?"]
        params: list[Any] = [after]
        source = "jobs j"
        if tag is not None:
            # Walk the tag's index in seq order and join the jobs by primary key.
            source = "job_tags t JOIN jobs j ON j.seq = t.seq"
            where = ["t.tag = ?", "t.seq > ?"]
            params = [tag, after]
        if status is not None:
            where.append("j.status = ?")
            params.append(JobStatus(status).value)
        if batch_id is not None:
            where.append("j.batch_id = ?")
            params.append(batch_id)
        if tenant is not None:
            where.append("j.tenant = ?")
            params.append(tenant)
        order = "t.seq" if tag is not None else "j.seq"
        columns = ", ".join(f"j.{c.strip()}" for c in _JOB_COLUMNS.split(","))
        rows = self._read(
            f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
            (*params, limit + 1),
        )
        items = [_job_from_row(r) for r in rows[:limit]]
        next_cursor = encode_cursor(int(rows[limit - 1]["seq"])) if len(rows) > limit else None
        return JobPage(items=items, next_cursor=next_cursor)

    def transition(
        self,
        job_id: str,
        *,
        expected: Collection[JobStatus],
        to: JobStatus,
        result: JsonDict | None = None,
        error: JsonDict | None = None,
        new_attempt: bool = False,
    ) -> JobRecord:
        """See :meth:`JobStore.transition`. ValueError, before anything is read, when
        TRANSITIONS forbids a move from any status in ``expected`` to ``to``. A move to
        canceling also sets ``cancel_requested`` (the worker watches that flag)."""
        wanted, target = check_transition(expected, to)
        require_known_id(job_id)
        result_json = None if result is None else dumps_object(result, "result")
        error_json = None if error is None else dumps_object(error, "error")
        with self._write() as conn:
            row = conn.execute("SELECT status, attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError("job", job_id)
            current = JobStatus(row["status"])
            if current not in wanted:
                raise TransitionConflictError(job_id, current.value, [s.value for s in wanted], target.value)
            now = now_rfc3339()
            attempts = int(row["attempts"]) + (1 if new_attempt else 0)
            conn.execute(
                "UPDATE jobs SET status = ?, updated_at = ?, attempts = ?, "
                "started_at = CASE WHEN ? THEN ? ELSE started_at END, "
                "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, "
                "cancel_requested = CASE WHEN ? THEN 1 ELSE cancel_requested END, "
                "result = COALESCE(?, result), error = COALESCE(?, error) WHERE id = ?",
                (
                    target.value,
                    now,
                    attempts,
                    new_attempt,
                    now,
                    target.terminal,
                    now,
                    target is JobStatus.CANCELING,
                    result_json,
                    error_json,
                    job_id,
                ),
            )
            _insert_event(conn, job_id, "status", dumps(status_event_data(target, attempts)), now)
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row)

    def request_cancel(self, job_id: str) -> JobRecord:
        require_known_id(job_id)
        with self._write() as conn:
            row = conn.execute("SELECT status, attempts, cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError("job", job_id)
            current = JobStatus(row["status"])
            now = now_rfc3339()
            attempts = int(row["attempts"])
            if current is JobStatus.QUEUED:
                conn.execute(
                    "UPDATE jobs SET status = ?, cancel_requested = 1, updated_at = ?, finished_at = ?, error = ? "
                    "WHERE id = ?",
                    (JobStatus.CANCELED.value, now, now, dumps(CANCELED_BEFORE_START), job_id),
                )
                data = status_event_data(JobStatus.CANCELED, attempts)
                _insert_event(conn, job_id, "status", dumps(data), now)
            elif current is JobStatus.RUNNING:
                conn.execute(
                    "UPDATE jobs SET status = ?, cancel_requested = 1, updated_at = ? WHERE id = ?",
                    (JobStatus.CANCELING.value, now, job_id),
                )
                data = status_event_data(JobStatus.CANCELING, attempts)
                _insert_event(conn, job_id, "status", dumps(data), now)
            elif current is JobStatus.CANCELING and not row["cancel_requested"]:
                conn.execute("UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?", (now, job_id))
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row)

    # -- events ----------------------------------------------------------------------

    def append_event(self, job_id: str, type: str, data: JsonDict) -> JobEvent:
        """See :meth:`JobStore.append_event`; JobNotFoundError for an unknown job."""
        require_known_id(job_id)
        if not isinstance(type, str) or not type:
            raise ValueError(f"invalid event type {type!r}")
        data_json = dumps_object(data, "event data")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise JobNotFoundError("job", job_id)
            now = now_rfc3339()
            seq = _insert_event(conn, job_id, type, data_json, now)
        return JobEvent(id=seq, type=type, data=loads_object(data_json), at=now)

    def read_events(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[JobEvent]:
        """See :meth:`JobStore.read_events`; JobNotFoundError for an unknown job."""
        require_known_id(job_id)
        check_read_events(after, limit)
        rows = self._read(
            "SELECT seq, type, data, at FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )
        if not rows:
            self._require_job(job_id)
        return [JobEvent(id=int(r["seq"]), type=r["type"], data=loads_object(r["data"]), at=r["at"]) for r in rows]

    # -- artifacts -------------------------------------------------------------------

    def put_artifact(self, job_id: str, artifact: Artifact) -> ArtifactInfo:
        """See :meth:`JobStore.put_artifact`; ValueError for a name that is not a plain file
        name, JobNotFoundError for an unknown job, StoreError over ``artifact_quota_bytes``."""
        require_known_id(job_id)
        data = check_artifact(artifact)
        self._require_job(job_id)
        size = len(data)
        digest = sha256_hex(data)
        target: Path | None = None
        temp: Path | None = None
        if size > self.inline_artifact_max_bytes:
            target = self.artifact_dir / check_id(job_id) / artifact.name
            self._check_quota(self._conn(), job_id, artifact.name, size)  # before writing anything
            try:
                temp = write_temp_file(target.parent, artifact.name, data)
            except OSError as exc:
                raise StoreError(f"cannot write artifact {artifact.name!r} of job {job_id}: {exc}") from exc
        stale: Path | None = None
        try:
            with self._write() as conn:
                if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                    raise JobNotFoundError("job", job_id)
                old = conn.execute(
                    "SELECT path FROM artifacts WHERE job_id = ? AND name = ?", (job_id, artifact.name)
                ).fetchone()
                if target is not None:
                    self._check_quota(conn, job_id, artifact.name, size)  # again, under the write lock
                if temp is not None and target is not None:
                    # Under the write lock, so racing writers of one name land in commit order.
                    replace_file_atomically(temp, target)
                    temp = None
                elif old is not None and old["path"]:
                    stale = Path(old["path"])
                conn.execute(
                    "INSERT OR REPLACE INTO artifacts (job_id, name, media_type, size, sha256, data, path, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        artifact.name,
                        artifact.media_type,
                        size,
                        digest,
                        None if target is not None else data,
                        None if target is None else str(target),
                        now_rfc3339(),
                    ),
                )
        except OSError as exc:
            raise StoreError(f"cannot store artifact {artifact.name!r} of job {job_id}: {exc}") from exc
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    temp.parent.rmdir()  # the job's directory, if this put created it
        if stale is not None:
            stale.unlink(missing_ok=True)
        return ArtifactInfo(name=artifact.name, media_type=artifact.media_type, size_bytes=size, sha256=digest)

    def _check_quota(self, conn: sqlite3.Connection, job_id: str, name: str, size: int) -> None:
        """StoreError when an artifact file of ``size`` bytes, replacing the job's artifact
        ``name``, would take the artifact files over ``artifact_quota_bytes``."""
        quota = self.artifact_quota_bytes
        if quota is None:
            return
        with _sqlite_errors(self.path):
            used = int(
                conn.execute(
                    "SELECT COALESCE(SUM(size), 0) FROM artifacts WHERE path IS NOT NULL "
                    "AND NOT (job_id = ? AND name = ?)",
                    (job_id, name),
                ).fetchone()[0]
            )
        if used + size > quota:
            raise ArtifactQuotaExceededError(
                f"artifact quota of {quota} bytes exceeded: artifact {name!r} of job {job_id} has {size} bytes "
                f"and the artifact files take {used} already"
            )

    def get_artifact(self, job_id: str, name: str) -> Artifact:
        """See :meth:`JobStore.get_artifact`; StoreError when a file artifact is missing or
        no longer matches its checksum."""
        require_known_id(job_id)
        check_name(name)
        rows = self._read(
            "SELECT media_type, size, sha256, data, path FROM artifacts WHERE job_id = ? AND name = ?", (job_id, name)
        )
        if not rows:
            self._require_job(job_id)
            raise ArtifactNotFoundError(f"job {job_id} has no artifact {name!r}")
        row = rows[0]
        if row["path"]:
            try:
                data = Path(row["path"]).read_bytes()
            except OSError as exc:
                raise StoreError(f"artifact {name!r} of job {job_id}: cannot read {row['path']}: {exc}") from exc
            if len(data) != row["size"] or sha256_hex(data) != row["sha256"]:
                raise StoreError(f"artifact {name!r} of job {job_id}: {row['path']} does not match its checksum")
        else:
            data = bytes(row["data"])
        return Artifact(name=name, media_type=row["media_type"], data=data)

    def list_artifacts(self, job_id: str) -> list[ArtifactInfo]:
        """Artifacts of the job by name; JobNotFoundError for an unknown job."""
        require_known_id(job_id)
        rows = self._read(
            "SELECT name, media_type, size, sha256 FROM artifacts WHERE job_id = ? ORDER BY name", (job_id,)
        )
        if not rows:
            self._require_job(job_id)
        return [
            ArtifactInfo(name=r["name"], media_type=r["media_type"], size_bytes=int(r["size"]), sha256=r["sha256"])
            for r in rows
        ]

    # -- batches ---------------------------------------------------------------------

    def create_batch(
        self,
        *,
        request: JsonDict,
        job_ids: Sequence[str],
        cells: Sequence[JsonDict],
        tags: Sequence[str] = (),
        batch_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> BatchRecord:
        """See :meth:`JobStore.create_batch`; ValueError when ``cells`` is neither empty nor
        one per job, or ``batch_id`` is invalid or taken."""
        batch = new_batch(request=request, job_ids=job_ids, cells=cells, tags=tags, batch_id=batch_id, tenant=tenant)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM batches WHERE id = ?", (batch.id,)).fetchone() is not None:
                raise ValueError(f"a batch with id {batch.id!r} exists already")
            conn.execute(
                "INSERT INTO batches (id, created_at, request, job_ids, cells, tags, tenant) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    batch.id,
                    batch.created_at,
                    dumps(batch.request),
                    dumps(list(batch.job_ids)),
                    dumps(list(batch.cells)),
                    dumps(list(batch.tags)),
                    batch.tenant,
                ),
            )
        return batch

    def get_batch(self, batch_id: str) -> BatchRecord:
        require_known_id(batch_id, "batch")
        rows = self._read(
            "SELECT id, created_at, request, job_ids, cells, tags, tenant FROM batches WHERE id = ?", (batch_id,)
        )
        if not rows:
            raise JobNotFoundError("batch", batch_id)
        row = rows[0]
        return BatchRecord(
            id=row["id"],
            created_at=row["created_at"],
            request=loads_object(row["request"]),
            job_ids=tuple(loads_list(row["job_ids"])),
            cells=tuple(loads_list(row["cells"])),
            tags=tuple(loads_list(row["tags"])),
            tenant=row["tenant"],
        )

    # -- tenants, deletion, retention --------------------------------------------------

    def count_unfinished(self, tenant: str) -> int:
        marks = ", ".join("?" for _ in UNFINISHED)
        rows = self._read(
            f"SELECT COUNT(*) FROM jobs WHERE tenant = ? AND status IN ({marks})",
            (check_tenant(tenant), *(s.value for s in UNFINISHED)),
        )
        return int(rows[0][0])

    def delete_job(self, job_id: str) -> JobRecord:
        """See :meth:`JobStore.delete_job`. Rows go in one transaction; artifact files after
        it commits (a crash between leaves only unreferenced files, never a row without its
        file)."""
        require_known_id(job_id)
        with self._write() as conn:
            row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError("job", job_id)
            record = _job_from_row(row)
            if not record.status.terminal:
                raise TransitionConflictError(job_id, record.status.value, [s.value for s in FINISHED], "deleted")
            paths = self._delete_rows(conn, row)
        _unlink_all(paths)
        return record

    def purge_finished(self, finished_before: str, *, limit: int = 1000) -> int:
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? "
                "ORDER BY finished_at LIMIT ?",
                (finished_before, limit),
            ).fetchall()
            paths = [path for row in rows for path in self._delete_rows(conn, row)]
        _unlink_all(paths)
        return len(rows)

    @staticmethod
    def _delete_rows(conn: sqlite3.Connection, row: sqlite3.Row) -> list[Path]:
        job_id, seq = row["id"], row["seq"]
        paths = [
            Path(r["path"])
            for r in conn.execute("SELECT path FROM artifacts WHERE job_id = ? AND path IS NOT NULL", (job_id,))
        ]
        conn.execute("DELETE FROM artifacts WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM job_tags WHERE seq = ?", (seq,))
        conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
        return paths

    # -- records -----------------------------------------------------------------------

    def put_record(self, collection: str, key: str, data: JsonDict, *, only_new: bool = False) -> bool:
        check_record_key(collection, key)
        text = dumps_object(data, "a record")
        verb = "INSERT OR IGNORE" if only_new else "INSERT OR REPLACE"
        with self._write() as conn:
            cursor = conn.execute(
                f"{verb} INTO records (collection, key, data, updated_at) VALUES (?, ?, ?, ?)",
                (collection, key, text, now_rfc3339()),
            )
            return cursor.rowcount > 0

    def get_record(self, collection: str, key: str) -> JsonDict | None:
        check_record_key(collection, key)
        rows = self._read("SELECT data FROM records WHERE collection = ? AND key = ?", (collection, key))
        return loads_object(rows[0]["data"]) if rows else None

    def delete_record(self, collection: str, key: str) -> bool:
        check_record_key(collection, key)
        with self._write() as conn:
            return conn.execute("DELETE FROM records WHERE collection = ? AND key = ?", (collection, key)).rowcount > 0

    def list_records(self, collection: str) -> list[tuple[str, JsonDict]]:
        check_record_key(collection, "-")
        rows = self._read("SELECT key, data FROM records WHERE collection = ? ORDER BY key", (collection,))
        return [(r["key"], loads_object(r["data"])) for r in rows]

    # -- helpers ---------------------------------------------------------------------

    def _require_job(self, job_id: str) -> None:
        if not self._read("SELECT 1 FROM jobs WHERE id = ?", (job_id,)):
            raise JobNotFoundError("job", job_id)


def _insert_event(conn: sqlite3.Connection, job_id: str, type: str, data_json: str, at: str) -> int:
    """Append an event inside the caller's write transaction; return its id."""
    seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = ?", (job_id,)).fetchone()[0])
    conn.execute(
        "INSERT INTO events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)", (job_id, seq, type, data_json, at)
    )
    return seq


def _job_from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        status=JobStatus(row["status"]),
        spec=loads_object(row["spec"]),
        problem=row["problem"],
        tags=tuple(loads_list(row["tags"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        spec_sha256=row["spec_sha256"],
        attempts=int(row["attempts"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        batch_id=row["batch_id"],
        idempotency_key=row["idempotency_key"],
        cancel_requested=bool(row["cancel_requested"]),
        result=None if row["result"] is None else loads_object(row["result"]),
        error=None if row["error"] is None else loads_object(row["error"]),
        tenant=row["tenant"],
    )


def _unlink_all(paths: Sequence[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
            path.parent.rmdir()  # the job's own directory, once empty
        except OSError:
            pass
