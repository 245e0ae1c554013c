"""The distributed job store: Redis (standalone, not Cluster).

Keys, all under ``prefix`` (default ``designsvc``):

- ``P:job:ID`` hash: the record (JSON for spec, tags, result, error), ``seq`` (insertion
  number, the listing order) and ``event_seq`` (last event id);
- ``P:job:ID:events`` stream with explicit entry ids ``N-0``, N = 1, 2, 3... per job;
- ``P:job:ID:artifacts`` hash name -> JSON metadata, ``P:job:ID:artifact-data`` hash
  name -> bytes (artifacts over ``inline_artifact_max_bytes`` are files
  ``artifact_dir/ID/NAME`` instead, written to a temporary file and moved into place);
- ``P:artifact-bytes`` the total size of those files, kept by the artifact and delete scripts
  (seeded from the files in ``artifact_dir`` when a store with ``artifact_quota_bytes`` finds
  it missing); a put that would take it over ``artifact_quota_bytes`` is refused;
- ``P:jobs`` sorted set of every job id by ``seq`` (from the counter ``P:jobs:seq``), with one
  per status (``P:status:S``), per tag (``P:tag:T``), per tenant (``P:tenant:T``) and per
  batch (``P:batch:B:jobs``);
- ``P:idem:KEY`` the job id an idempotency key was first used for;
- ``P:batch:B`` a batch record (JSON);
- ``P:rec:C`` hash key -> JSON document: the keyed records of collection C (API keys, agent
  sessions, webhook endpoints).

Every write to a job is one Lua script, so the compare-and-set of a transition, its status
event and the index moves happen atomically. Scripts build key names from the prefix, which
is why Redis Cluster is not supported.

Retention: when a job reaches a terminal status its keys (record, events, artifacts,
idempotency key, and its batch's record and index) expire after ``retention_s`` seconds
(None: kept for ever); later events or artifacts of the job inherit the remaining time.
Artifact files are not removed. Index sets are cleaned lazily: list_jobs skips ids whose
record expired and removes them from the index it walked and from ``P:jobs``.

The job store should sit on a Redis with ``maxmemory-policy noeviction`` (an evicted record
would lose a job silently); the store logs a warning at start-up when it does not.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.commands.core import Script

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
    write_temp_file,
)

__all__ = ["DEFAULT_RETENTION_S", "RedisJobStore"]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_S = 30 * 24 * 3600
"""Seconds a finished job is kept: 30 days."""

_DEFAULT_PREFIX = "designsvc"
_DEFAULT_INLINE_MAX = 8 * MIB
_URL_OPTIONS = ("prefix", "retention_s", "artifact_dir", "inline_artifact_max_bytes", "artifact_quota_bytes")

# Every script gets ARGV[1] = prefix and ARGV[2] = job id.
_PRELUDE = """
local prefix = ARGV[1]
local id = ARGV[2]
local jobkey = prefix .. ':job:' .. id
local function move_index(seq, from, to)
  if from ~= to then
    redis.call('ZREM', prefix .. ':status:' .. from, id)
    redis.call('ZADD', prefix .. ':status:' .. to, seq, id)
  end
end
local function follow_ttl(key)
  local ttl = redis.call('PTTL', jobkey)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
local function add_event(etype, data, at)
  local n = redis.call('HINCRBY', jobkey, 'event_seq', 1)
  redis.call('XADD', jobkey .. ':events', n .. '-0', 'type', etype, 'data', data, 'at', at)
  follow_ttl(jobkey .. ':events')
  return n
end
local function status_event(status, attempts)
  return '{"status":"' .. status .. '","attempts":' .. attempts .. '}'
end
local function expire_job(retention_ms)
  if retention_ms <= 0 then return end
  redis.call('PEXPIRE', jobkey, retention_ms)
  redis.call('PEXPIRE', jobkey .. ':events', retention_ms)
  redis.call('PEXPIRE', jobkey .. ':artifacts', retention_ms)
  redis.call('PEXPIRE', jobkey .. ':artifact-data', retention_ms)
  local idem = redis.call('HGET', jobkey, 'idempotency_key')
  if idem then
    local idemkey = prefix .. ':idem:' .. idem
    if redis.call('GET', idemkey) == id then redis.call('PEXPIRE', idemkey, retention_ms) end
  end
  local batch = redis.call('HGET', jobkey, 'batch_id')
  if batch then
    redis.call('PEXPIRE', prefix .. ':batch:' .. batch, retention_ms)
    redis.call('PEXPIRE', prefix .. ':batch:' .. batch .. ':jobs', retention_ms)
  end
end
"""

# ARGV: prefix, id, idempotency key or '', spec sha256, batch id or '', tag count n,
# n tags, then the record's field/value pairs.
_CREATE = (
    _PRELUDE
    + """
local idem = ARGV[3]
local batch = ARGV[5]
local ntags = tonumber(ARGV[6])
if idem ~= '' then
  local existing = redis.call('GET', prefix .. ':idem:' .. idem)
  if existing then
    local ekey = prefix .. ':job:' .. existing
    local esha = redis.call('HGET', ekey, 'spec_sha256')
    if esha == ARGV[4] then return {'existing', redis.call('HGETALL', ekey)} end
    if esha then return {'conflict', existing} end
  end
end
if redis.call('EXISTS', jobkey) == 1 then return {'duplicate'} end
local seq = redis.call('INCR', prefix .. ':jobs:seq')
local fields = {}
for i = 7 + ntags, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', jobkey, 'seq', seq, 'event_seq', 0, unpack(fields))
redis.call('ZADD', prefix .. ':jobs', seq, id)
redis.call('ZADD', prefix .. ':status:queued', seq, id)
redis.call('ZADD', prefix .. ':tenant:' .. redis.call('HGET', jobkey, 'tenant'), seq, id)
for i = 7, 6 + ntags do redis.call('ZADD', prefix .. ':tag:' .. ARGV[i], seq, id) end
if batch ~= '' then redis.call('ZADD', prefix .. ':batch:' .. batch .. ':jobs', seq, id) end
if idem ~= '' then redis.call('SET', prefix .. ':idem:' .. idem, id) end
return {'created', redis.call('HGETALL', jobkey)}
"""
)

# ARGV: prefix, id, to, ',expected,statuses,', now, new attempt '1'/'0', has result, result,
# has error, error, terminal '1'/'0', retention ms (0: none).
_TRANSITION = (
    _PRELUDE
    + """
local to = ARGV[3]
local now = ARGV[5]
local cur = redis.call('HGET', jobkey, 'status')
if not cur then return {'notfound'} end
if not string.find(ARGV[4], ',' .. cur .. ',', 1, true) then return {'conflict', cur} end
local seq = redis.call('HGET', jobkey, 'seq')
local attempts = tonumber(redis.call('HGET', jobkey, 'attempts'))
if ARGV[6] == '1' then
  attempts = attempts + 1
  redis.call('HSET', jobkey, 'attempts', attempts, 'started_at', now)
end
redis.call('HSET', jobkey, 'status', to, 'updated_at', now)
if to == 'canceling' then redis.call('HSET', jobkey, 'cancel_requested', '1') end
if ARGV[7] == '1' then redis.call('HSET', jobkey, 'result', ARGV[8]) end
if ARGV[9] == '1' then redis.call('HSET', jobkey, 'error', ARGV[10]) end
if ARGV[11] == '1' then redis.call('HSET', jobkey, 'finished_at', now) end
move_index(seq, cur, to)
add_event('status', status_event(to, attempts), now)
if ARGV[11] == '1' then expire_job(tonumber(ARGV[12])) end
return {'ok', redis.call('HGETALL', jobkey)}
"""
)

# ARGV: prefix, id, now, error of a job canceled while queued, retention ms (0: none).
_CANCEL = (
    _PRELUDE
    + """
local now = ARGV[3]
local cur = redis.call('HGET', jobkey, 'status')
if not cur then return {'notfound'} end
local seq = redis.call('HGET', jobkey, 'seq')
local attempts = redis.call('HGET', jobkey, 'attempts')
if cur == 'queued' then
  redis.call('HSET', jobkey, 'status', 'canceled', 'cancel_requested', '1', 'updated_at', now,
    'finished_at', now, 'error', ARGV[4])
  move_index(seq, cur, 'canceled')
  add_event('status', status_event('canceled', attempts), now)
  expire_job(tonumber(ARGV[5]))
elseif cur == 'running' then
  redis.call('HSET', jobkey, 'status', 'canceling', 'cancel_requested', '1', 'updated_at', now)
  move_index(seq, cur, 'canceling')
  add_event('status', status_event('canceling', attempts), now)
elseif cur == 'canceling' and redis.call('HGET', jobkey, 'cancel_requested') ~= '1' then
  redis.call('HSET', jobkey, 'cancel_requested', '1', 'updated_at', now)
end
return {'ok', redis.call('HGETALL', jobkey)}
"""
)

# ARGV: prefix, id, type, data (JSON), now.
_EVENT = (
    _PRELUDE
    + """
if redis.call('EXISTS', jobkey) == 0 then return {'notfound'} end
return {'ok', add_event(ARGV[3], ARGV[4], ARGV[5])}
"""
)

# ARGV: prefix, id, name, metadata (JSON), inline '1'/'0', data (inline only), file size (0
# when inline), quota (-1: none). Returns {'quota', bytes used by other files} when over it.
_ARTIFACT = (
    _PRELUDE
    + """
if redis.call('EXISTS', jobkey) == 0 then return {'notfound'} end
local old = redis.call('HGET', jobkey .. ':artifacts', ARGV[3])
local freed = 0
if old and cjson.decode(old)['path'] then freed = tonumber(cjson.decode(old)['size']) end
local added = tonumber(ARGV[7])
local counter = prefix .. ':artifact-bytes'
local used = tonumber(redis.call('GET', counter) or '0') - freed
if tonumber(ARGV[8]) >= 0 and added > 0 and used + added > tonumber(ARGV[8]) then return {'quota', used} end
if added ~= freed then redis.call('INCRBY', counter, added - freed) end
redis.call('HSET', jobkey .. ':artifacts', ARGV[3], ARGV[4])
if ARGV[5] == '1' then
  redis.call('HSET', jobkey .. ':artifact-data', ARGV[3], ARGV[6])
else
  redis.call('HDEL', jobkey .. ':artifact-data', ARGV[3])
end
follow_ttl(jobkey .. ':artifacts')
follow_ttl(jobkey .. ':artifact-data')
return {'ok', old or ''}
"""
)


# ARGV: prefix, index key, job ids the listing found without a record. Removes each id
# from the index and from P:jobs unless its record exists again (an id used anew).
_PRUNE = """
local prefix = ARGV[1]
for i = 3, #ARGV do
  if redis.call('EXISTS', prefix .. ':job:' .. ARGV[i]) == 0 then
    redis.call('ZREM', ARGV[2], ARGV[i])
    redis.call('ZREM', prefix .. ':jobs', ARGV[i])
  end
end
return 0
"""


# ARGV: prefix, id, ',finished,statuses,', tag count n, n tags. Deletes a finished job's keys
# and index entries; returns {'ok', fields before}, {'notfound'} or {'conflict', status}.
_DELETE = (
    _PRELUDE
    + """
local cur = redis.call('HGET', jobkey, 'status')
if not cur then return {'notfound'} end
if not string.find(ARGV[3], ',' .. cur .. ',', 1, true) then return {'conflict', cur} end
local fields = redis.call('HGETALL', jobkey)
for i = 5, 4 + tonumber(ARGV[4]) do redis.call('ZREM', prefix .. ':tag:' .. ARGV[i], id) end
redis.call('ZREM', prefix .. ':jobs', id)
redis.call('ZREM', prefix .. ':status:' .. cur, id)
local tenant = redis.call('HGET', jobkey, 'tenant')
if tenant then redis.call('ZREM', prefix .. ':tenant:' .. tenant, id) end
local batch = redis.call('HGET', jobkey, 'batch_id')
if batch then redis.call('ZREM', prefix .. ':batch:' .. batch .. ':jobs', id) end
local idem = redis.call('HGET', jobkey, 'idempotency_key')
if idem and redis.call('GET', prefix .. ':idem:' .. idem) == id then redis.call('DEL', prefix .. ':idem:' .. idem) end
local freed = 0
for _, meta in ipairs(redis.call('HVALS', jobkey .. ':artifacts')) do
  local m = cjson.decode(meta)
  if m['path'] then freed = freed + tonumber(m['size']) end
end
if freed > 0 then redis.call('DECRBY', prefix .. ':artifact-bytes', freed) end
redis.call('DEL', jobkey, jobkey .. ':events', jobkey .. ':artifacts', jobkey .. ':artifact-data')
return {'ok', fields}
"""
)

_FINISHED_ARG = "," + ",".join(s.value for s in FINISHED) + ","


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisJobStore(JobStore):
    """Jobs in the Redis at ``url`` (``redis://[[user]:password@]host:port/db`` or
    ``rediss://``), under the key prefix ``prefix``.

    ``retention_s`` seconds after a job finishes its keys expire (None keeps them);
    ``artifact_dir`` (a directory every process sees) receives artifacts over
    ``inline_artifact_max_bytes`` bytes; without it such artifacts raise StoreError.
    ``artifact_quota_bytes`` (None: no quota) caps the total size of those files: a put that
    would exceed it raises StoreError and writes nothing.
    The constructor connects (StoreError when Redis does not answer) and warns when the
    server's ``maxmemory-policy`` is not ``noeviction``. ``url`` (the attribute) keeps the
    password, since it must open the store again elsewhere: do not log it.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = _DEFAULT_PREFIX,
        retention_s: int | None = DEFAULT_RETENTION_S,
        artifact_dir: Path | None = None,
        inline_artifact_max_bytes: int = _DEFAULT_INLINE_MAX,
        artifact_quota_bytes: int | None = None,
    ) -> None:
        if artifact_quota_bytes is not None and artifact_quota_bytes < 0:
            raise ValueError(f"artifact_quota_bytes must be >= 0 or None, got {artifact_quota_bytes}")
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"invalid key prefix {prefix!r}")
        if retention_s is not None and retention_s <= 0:
            raise ValueError(f"retention_s must be > 0 or None, got {retention_s}")
        if inline_artifact_max_bytes < 0:
            raise ValueError(f"inline_artifact_max_bytes must be >= 0, got {inline_artifact_max_bytes}")
        self.prefix = prefix
        self.retention_s = retention_s
        self.artifact_dir = None if artifact_dir is None else Path(artifact_dir).expanduser().resolve()
        self.inline_artifact_max_bytes = inline_artifact_max_bytes
        self.artifact_quota_bytes = artifact_quota_bytes
        self._redis_url = url
        self._shown_url = _redact(url)
        self.url = self._make_url()
        try:
            self._client = redis.Redis.from_url(
                url,
                decode_responses=False,
                health_check_interval=30,
                socket_connect_timeout=5.0,
                socket_timeout=30.0,
            )
        except ValueError as exc:
            raise StoreError(f"invalid Redis URL {self._shown_url!r}: {exc}") from exc
        self._create = self._client.register_script(_CREATE)
        self._transition = self._client.register_script(_TRANSITION)
        self._cancel = self._client.register_script(_CANCEL)
        self._event = self._client.register_script(_EVENT)
        self._artifact = self._client.register_script(_ARTIFACT)
        self._prune = self._client.register_script(_PRUNE)
        self._delete = self._client.register_script(_DELETE)
        try:
            self.ping()
        except StoreError:
            self._client.close()
            raise
        self._check_eviction_policy()
        if artifact_quota_bytes is not None and self.artifact_dir is not None:
            self._seed_artifact_bytes(self.artifact_dir)

    # -- construction from a URL -------------------------------------------------------

    def _make_url(self) -> str:
        """The Redis URL with this store's options as query parameters when they differ
        from the defaults; :func:`designsvc.store.open_store` (or :meth:`from_url`) opens it."""
        options: list[tuple[str, str]] = []
        if self.prefix != _DEFAULT_PREFIX:
            options.append(("prefix", self.prefix))
        if self.retention_s != DEFAULT_RETENTION_S:
            options.append(("retention_s", str(self.retention_s or 0)))
        if self.artifact_dir is not None:
            options.append(("artifact_dir", str(self.artifact_dir)))
        if self.inline_artifact_max_bytes != _DEFAULT_INLINE_MAX:
            options.append(("inline_artifact_max_bytes", str(self.inline_artifact_max_bytes)))
        if self.artifact_quota_bytes is not None:
            options.append(("artifact_quota_bytes", str(self.artifact_quota_bytes)))
        if not options:
            return self._redis_url
        parts = urlsplit(self._redis_url)
        query = parse_qsl(parts.query, keep_blank_values=True) + options
        return urlunsplit(parts._replace(query=urlencode(query)))

    @classmethod
    def from_url(cls, url: str) -> RedisJobStore:
        """Open a Redis URL that may carry this store's options as query parameters
        (``prefix``, ``retention_s`` with 0 meaning keep for ever, ``artifact_dir``,
        ``inline_artifact_max_bytes``, ``artifact_quota_bytes``); the other parameters go to redis-py."""
        parts = urlsplit(url)
        kwargs: dict[str, Any] = {}
        rest: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _URL_OPTIONS:
                rest.append((key, value))
            elif key in {"prefix", "artifact_dir"}:
                kwargs[key] = value if key == "prefix" else Path(value)
            else:
                try:
                    number = int(value)
                except ValueError as exc:
                    raise StoreError(f"{key} must be an integer in the store URL {_redact(url)!r}") from exc
                kwargs[key] = (number or None) if key == "retention_s" else number
        return cls(urlunsplit(parts._replace(query=urlencode(rest))), **kwargs)

    # -- connection --------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"Redis job store at {self._shown_url}: {type(exc).__name__}: {exc}") from exc

    def ping(self) -> None:
        with self._errors():
            self._client.ping()

    def close(self) -> None:
        self._client.close()

    def _check_eviction_policy(self) -> None:
        try:
            config = self._client.config_get("maxmemory-policy")
        except redis.exceptions.RedisError as exc:  # CONFIG is disabled on some managed services
            log.warning(
                "cannot read maxmemory-policy of the Redis at %s (%s); the job store needs noeviction",
                self._shown_url,
                exc,
            )
            return
        value = next(iter(config.values()), None) if config else None
        policy = "" if value is None else _text(value)
        if policy != "noeviction":
            log.warning(
                "the Redis at %s has maxmemory-policy %r: it may evict job records under memory pressure; "
                "run the job store on a Redis with maxmemory-policy noeviction",
                self._shown_url,
                policy,
            )

    def _seed_artifact_bytes(self, artifact_dir: Path) -> None:
        """Start the artifact byte counter, when it is missing (a store written before it
        existed, or a Redis that lost its data), at the size of the files in ``artifact_dir``."""
        counter = self._key("artifact-bytes")
        with self._errors():
            if self._client.exists(counter):
                return
            total = sum(
                p.stat().st_size for p in artifact_dir.glob("*/*") if p.is_file() and not p.name.startswith(".")
            )
            self._client.set(counter, total, nx=True)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _run(self, script: Script, *args: str | bytes | int) -> Any:
        with self._errors():
            return script(keys=[], args=[self.prefix, *args])

    @property
    def _retention_ms(self) -> int:
        return 0 if self.retention_s is None else self.retention_s * 1000

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
        fingerprint = spec_sha256(spec)
        now = now_rfc3339()
        fields: list[str] = [
            "id",
            job_id,
            "status",
            JobStatus.QUEUED.value,
            "spec",
            dumps_object(spec, "spec"),
            "problem",
            problem,
            "tags",
            dumps(list(tag_tuple)),
            "created_at",
            now,
            "updated_at",
            now,
            "attempts",
            "0",
            "spec_sha256",
            fingerprint,
            "cancel_requested",
            "0",
            "tenant",
            tenant,
        ]
        if batch_id is not None:
            fields += ["batch_id", batch_id]
        if idempotency_key is not None:
            fields += ["idempotency_key", idempotency_key]
        reply = self._run(
            self._create,
            job_id,
            idempotency_key or "",
            fingerprint,
            batch_id or "",
            len(tag_tuple),
            *tag_tuple,
            *fields,
        )
        outcome = _text(reply[0])
        if outcome == "created":
            return _job_from_hash(reply[1]), True
        if outcome == "existing":
            return _job_from_hash(reply[1]), False
        if outcome == "conflict":
            raise IdempotencyConflictError(idempotency_key or "", _text(reply[1]))
        raise ValueError(f"a job with id {job_id!r} exists already")

    def get_job(self, job_id: str) -> JobRecord:
        require_known_id(job_id)
        with self._errors():
            fields = self._client.hgetall(self._key("job", job_id))
        if not fields:
            raise JobNotFoundError("job", job_id)
        return _job_from_hash(fields)

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
        """See :meth:`JobStore.list_jobs`. Walks the smallest matching index in insertion
        order and checks the other filters against each record."""
        check_page_limit(limit)
        position = 0 if cursor is None else decode_cursor(cursor)
        wanted_status = None if status is None else JobStatus(status)
        indexes: list[str] = []
        if wanted_status is not None:
            indexes.append(self._key("status", wanted_status.value))
        if tag is not None:
            indexes.append(self._key("tag", tag))
        if batch_id is not None:
            indexes.append(self._key("batch", batch_id, "jobs"))
        if tenant is not None:
            indexes.append(self._key("tenant", tenant))
        everything = self._key("jobs")
        with self._errors():
            if len(indexes) > 1:
                pipe = self._client.pipeline(transaction=False)
                for index in indexes:
                    pipe.zcard(index)
                sizes = pipe.execute()
                index = min(zip(sizes, indexes, strict=True))[1]
            else:
                index = indexes[0] if indexes else everything
            matches: list[tuple[int, JobRecord]] = []
            expired: list[bytes] = []
            chunk = min(max(limit + 1, 64), 1000)
            while len(matches) <= limit:
                members = cast(
                    "list[tuple[bytes, float]]",
                    self._client.zrange(
                        index, f"({position}", "+inf", byscore=True, offset=0, num=chunk, withscores=True
                    ),
                )
                if not members:
                    break
                pipe = self._client.pipeline(transaction=False)
                for member, _score in members:
                    pipe.hgetall(self._key("job", _text(member)))
                records = pipe.execute()
                for (member, score), fields in zip(members, records, strict=True):
                    position = int(score)
                    if not fields:
                        expired.append(member)
                        continue
                    record = _job_from_hash(fields)
                    if (
                        (wanted_status is None or record.status is wanted_status)
                        and (tag is None or tag in record.tags)
                        and (batch_id is None or record.batch_id == batch_id)
                        and (tenant is None or record.tenant == tenant)
                    ):
                        matches.append((position, record))
                        if len(matches) > limit:
                            break
                if len(members) < chunk:
                    break
            if expired:
                self._prune(keys=[], args=[self.prefix, index, *expired])
        items = [record for _, record in matches[:limit]]
        next_cursor = encode_cursor(matches[limit - 1][0]) if len(matches) > limit else None
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
        reply = self._run(
            self._transition,
            job_id,
            target.value,
            "," + ",".join(sorted(s.value for s in wanted)) + ",",
            now_rfc3339(),
            "1" if new_attempt else "0",
            "0" if result is None else "1",
            "" if result is None else dumps_object(result, "result"),
            "0" if error is None else "1",
            "" if error is None else dumps_object(error, "error"),
            "1" if target.terminal else "0",
            self._retention_ms,
        )
        outcome = _text(reply[0])
        if outcome == "notfound":
            raise JobNotFoundError("job", job_id)
        if outcome == "conflict":
            raise TransitionConflictError(job_id, _text(reply[1]), [s.value for s in wanted], target.value)
        return _job_from_hash(reply[1])

    def request_cancel(self, job_id: str) -> JobRecord:
        require_known_id(job_id)
        reply = self._run(self._cancel, job_id, now_rfc3339(), dumps(CANCELED_BEFORE_START), self._retention_ms)
        if _text(reply[0]) == "notfound":
            raise JobNotFoundError("job", job_id)
        return _job_from_hash(reply[1])

    # -- events ----------------------------------------------------------------------

    def append_event(self, job_id: str, type: str, data: JsonDict) -> JobEvent:
        """See :meth:`JobStore.append_event`; JobNotFoundError for an unknown job."""
        require_known_id(job_id)
        if not isinstance(type, str) or not type:
            raise ValueError(f"invalid event type {type!r}")
        data_json = dumps_object(data, "event data")
        now = now_rfc3339()
        reply = self._run(self._event, job_id, type, data_json, now)
        if _text(reply[0]) == "notfound":
            raise JobNotFoundError("job", job_id)
        return JobEvent(id=int(reply[1]), type=type, data=loads_object(data_json), at=now)

    def read_events(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[JobEvent]:
        """See :meth:`JobStore.read_events`; JobNotFoundError for an unknown job."""
        require_known_id(job_id)
        check_read_events(after, limit)
        with self._errors():
            entries = cast(
                "list[tuple[bytes, dict[bytes, bytes]]] | None",
                self._client.xrange(self._key("job", job_id, "events"), f"{after + 1}-0", "+", count=limit),
            )
        if not entries:
            self._require_job(job_id)
            return []
        return [
            JobEvent(
                id=int(_text(entry_id).split("-", 1)[0]),
                type=_text(fields[b"type"]),
                data=loads_object(fields[b"data"]),
                at=_text(fields[b"at"]),
            )
            for entry_id, fields in entries
        ]

    # -- artifacts -------------------------------------------------------------------

    def put_artifact(self, job_id: str, artifact: Artifact) -> ArtifactInfo:
        """See :meth:`JobStore.put_artifact`; ValueError for a name that is not a plain file
        name, JobNotFoundError for an unknown job, StoreError for an artifact over
        ``inline_artifact_max_bytes`` when the store has no ``artifact_dir`` or over
        ``artifact_quota_bytes`` (checked before the file is written, and again atomically with
        the metadata; the file is moved into place only once the metadata is stored)."""
        require_known_id(job_id)
        data = check_artifact(artifact)
        self._require_job(job_id)
        info = ArtifactInfo(
            name=artifact.name, media_type=artifact.media_type, size_bytes=len(data), sha256=sha256_hex(data)
        )
        meta: JsonDict = {"media_type": info.media_type, "size": info.size_bytes, "sha256": info.sha256}
        inline = info.size_bytes <= self.inline_artifact_max_bytes
        quota = -1 if self.artifact_quota_bytes is None else self.artifact_quota_bytes
        temp: Path | None = None
        if not inline:
            if self.artifact_dir is None:
                raise StoreError(
                    f"artifact {artifact.name!r} of job {job_id} has {info.size_bytes} bytes, over the "
                    f"{self.inline_artifact_max_bytes} kept in Redis, and the store has no artifact_dir"
                )
            target = self.artifact_dir / check_id(job_id) / artifact.name
            if quota >= 0:
                with self._errors():
                    old = self._client.hget(self._key("job", job_id, "artifacts"), artifact.name)
                    used = int(self._client.get(self._key("artifact-bytes")) or 0)
                if old and loads_object(old).get("path"):
                    used -= int(loads_object(old)["size"])
                self._check_quota(quota, used, job_id, artifact.name, info.size_bytes)
            try:
                temp = write_temp_file(target.parent, artifact.name, data)
            except OSError as exc:
                raise StoreError(f"cannot write artifact {artifact.name!r} of job {job_id}: {exc}") from exc
            meta["path"] = str(target)
        try:
            reply = self._run(
                self._artifact,
                job_id,
                artifact.name,
                dumps(meta),
                "1" if inline else "0",
                data if inline else "",
                0 if inline else info.size_bytes,
                quota,
            )
            if _text(reply[0]) == "quota":
                self._check_quota(quota, int(reply[1]), job_id, artifact.name, info.size_bytes)
            if _text(reply[0]) == "notfound":
                raise JobNotFoundError("job", job_id)
            if temp is not None:
                replace_file_atomically(temp, target)
                temp = None
        except OSError as exc:
            raise StoreError(f"cannot write artifact {artifact.name!r} of job {job_id}: {exc}") from exc
        finally:
            if temp is not None:
                temp.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    temp.parent.rmdir()  # the job's directory, if this put created it
        old_path = loads_object(reply[1]).get("path") if reply[1] else None
        if inline and old_path:
            Path(old_path).unlink(missing_ok=True)
        return info

    @staticmethod
    def _check_quota(quota: int, used: int, job_id: str, name: str, size: int) -> None:
        """StoreError when a file of ``size`` bytes on top of ``used`` exceeds ``quota``."""
        if quota >= 0 and used + size > quota:
            raise ArtifactQuotaExceededError(
                f"artifact quota of {quota} bytes exceeded: artifact {name!r} of job {job_id} has {size} bytes "
                f"and the artifact files take {used} already"
            )

    def get_artifact(self, job_id: str, name: str) -> Artifact:
        """See :meth:`JobStore.get_artifact`; StoreError when a file artifact is missing or
        no longer matches its checksum."""
        require_known_id(job_id)
        check_name(name)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hget(self._key("job", job_id, "artifacts"), name)
            pipe.hget(self._key("job", job_id, "artifact-data"), name)
            raw_meta, raw_data = pipe.execute()
        if raw_meta is None:
            self._require_job(job_id)
            raise ArtifactNotFoundError(f"job {job_id} has no artifact {name!r}")
        meta = loads_object(raw_meta)
        path = meta.get("path")
        if path:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise StoreError(f"artifact {name!r} of job {job_id}: cannot read {path}: {exc}") from exc
        elif raw_data is None:
            raise StoreError(f"artifact {name!r} of job {job_id}: its data is missing")
        else:
            data = bytes(raw_data)
        if len(data) != meta["size"] or sha256_hex(data) != meta["sha256"]:
            raise StoreError(f"artifact {name!r} of job {job_id} does not match its checksum")
        return Artifact(name=name, media_type=str(meta["media_type"]), data=data)

    def list_artifacts(self, job_id: str) -> list[ArtifactInfo]:
        """Artifacts of the job by name; JobNotFoundError for an unknown job."""
        require_known_id(job_id)
        with self._errors():
            raw = self._client.hgetall(self._key("job", job_id, "artifacts"))
        if not raw:
            self._require_job(job_id)
        infos = []
        for name, value in raw.items():
            meta = loads_object(value)
            infos.append(
                ArtifactInfo(
                    name=_text(name),
                    media_type=str(meta["media_type"]),
                    size_bytes=int(meta["size"]),
                    sha256=str(meta["sha256"]),
                )
            )
        return sorted(infos, key=lambda info: info.name)

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
        document = {
            "id": batch.id,
            "created_at": batch.created_at,
            "request": batch.request,
            "job_ids": list(batch.job_ids),
            "cells": list(batch.cells),
            "tags": list(batch.tags),
            "tenant": batch.tenant,
        }
        with self._errors():
            stored = self._client.set(self._key("batch", batch.id), dumps(document), nx=True)
        if not stored:
            raise ValueError(f"a batch with id {batch.id!r} exists already")
        return batch

    def get_batch(self, batch_id: str) -> BatchRecord:
        require_known_id(batch_id, "batch")
        with self._errors():
            raw = self._client.get(self._key("batch", batch_id))
        if raw is None:
            raise JobNotFoundError("batch", batch_id)
        doc = loads_object(raw)
        return BatchRecord(
            id=str(doc["id"]),
            created_at=str(doc["created_at"]),
            request=doc["request"],
            job_ids=tuple(doc["job_ids"]),
            cells=tuple(doc["cells"]),
            tags=tuple(doc["tags"]),
            tenant=str(doc.get("tenant", DEFAULT_TENANT)),
        )

    # -- tenants, deletion, retention --------------------------------------------------

    def count_unfinished(self, tenant: str) -> int:
        """ZINTERCARD of the tenant's index with each unfinished status's (Redis 7)."""
        index = self._key("tenant", check_tenant(tenant))
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for status in UNFINISHED:
                pipe.execute_command("ZINTERCARD", 2, index, self._key("status", status.value))  # type: ignore[no-untyped-call]
            return sum(int(n) for n in pipe.execute())

    def delete_job(self, job_id: str) -> JobRecord:
        """See :meth:`JobStore.delete_job`: keys and index entries in one script, then the
        artifact files."""
        record = self.get_job(job_id)
        with self._errors():
            metas = self._client.hvals(self._key("job", job_id, "artifacts"))
        reply = self._run(self._delete, job_id, _FINISHED_ARG, len(record.tags), *record.tags)
        outcome = _text(reply[0])
        if outcome == "notfound":
            raise JobNotFoundError("job", job_id)
        if outcome == "conflict":
            raise TransitionConflictError(job_id, _text(reply[1]), [s.value for s in FINISHED], "deleted")
        for meta in metas:
            path = loads_object(meta).get("path")
            if path:
                Path(path).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    Path(path).parent.rmdir()
        return _job_from_hash(reply[1])

    def purge_finished(self, finished_before: str, *, limit: int = 1000) -> int:
        """Finished jobs also expire by ``retention_s``; this deletes those finished before
        ``finished_before`` now (oldest ids first per status)."""
        removed = 0
        for status in FINISHED:
            with self._errors():
                members = self._client.zrange(self._key("status", status.value), 0, max(limit * 4, 100))
            for member in members:
                if removed >= limit:
                    return removed
                try:
                    record = self.get_job(_text(cast(bytes, member)))
                except JobNotFoundError:
                    continue
                if record.finished_at is not None and record.finished_at < finished_before:
                    with contextlib.suppress(JobNotFoundError, TransitionConflictError):
                        self.delete_job(record.id)
                        removed += 1
        return removed

    # -- records -----------------------------------------------------------------------

    def put_record(self, collection: str, key: str, data: JsonDict, *, only_new: bool = False) -> bool:
        check_record_key(collection, key)
        text = dumps_object(data, "a record")
        with self._errors():
            if only_new:
                return bool(self._client.hsetnx(self._key("rec", collection), key, text))
            self._client.hset(self._key("rec", collection), key, text)
        return True

    def get_record(self, collection: str, key: str) -> JsonDict | None:
        check_record_key(collection, key)
        with self._errors():
            raw = self._client.hget(self._key("rec", collection), key)
        return None if raw is None else loads_object(raw)

    def delete_record(self, collection: str, key: str) -> bool:
        check_record_key(collection, key)
        with self._errors():
            return bool(self._client.hdel(self._key("rec", collection), key))

    def list_records(self, collection: str) -> list[tuple[str, JsonDict]]:
        check_record_key(collection, "-")
        with self._errors():
            raw = self._client.hgetall(self._key("rec", collection))
        return sorted((_text(cast(bytes, k)), loads_object(cast(bytes, v))) for k, v in raw.items())

    # -- helpers ---------------------------------------------------------------------

    def _require_job(self, job_id: str) -> None:
        with self._errors():
            found = self._client.exists(self._key("job", job_id))
        if not found:
            raise JobNotFoundError("job", job_id)


def _text(value: bytes | str | int) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _job_from_hash(raw: Any) -> JobRecord:
    """A record from HGETALL's reply: a dict, or a flat field/value list from a script."""
    if isinstance(raw, dict):
        fields = {_text(k): v for k, v in raw.items()}
    else:
        fields = {_text(raw[i]): raw[i + 1] for i in range(0, len(raw), 2)}

    def optional(name: str) -> str | None:
        value = fields.get(name)
        return None if value is None else _text(value)

    def optional_object(name: str) -> JsonDict | None:
        value = fields.get(name)
        return None if value is None else loads_object(value)

    return JobRecord(
        id=_text(fields["id"]),
        status=JobStatus(_text(fields["status"])),
        spec=loads_object(fields["spec"]),
        problem=_text(fields["problem"]),
        tags=tuple(loads_list(_text(fields["tags"]))),
        created_at=_text(fields["created_at"]),
        updated_at=_text(fields["updated_at"]),
        spec_sha256=_text(fields["spec_sha256"]),
        attempts=int(fields["attempts"]),
        started_at=optional("started_at"),
        finished_at=optional("finished_at"),
        batch_id=optional("batch_id"),
        idempotency_key=optional("idempotency_key"),
        cancel_requested=_text(fields.get("cancel_requested", b"0")) == "1",
        result=optional_object("result"),
        error=optional_object("error"),
        tenant=optional("tenant") or DEFAULT_TENANT,
    )
