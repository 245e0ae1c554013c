"""API keys: per-tenant bearer tokens with scopes and an expiry, hashed at rest.

A key reads ``dsk_<id>_<secret>``: ``id`` (12 hex digits) names its record in the store's
``api_keys`` collection, ``secret`` is 32 random bytes (base64url). The store keeps the
SHA-256 of the whole key, never the key: with 256 bits of entropy a fast hash is enough
(a slow password hash such as scrypt defends guessable secrets, and would cost every
request tens of milliseconds); comparisons are constant-time.

Scopes: ``read`` (jobs, results, events, artifacts, batches, catalog), ``submit`` (new jobs
and batches, cancel, agent sessions), ``admin`` (delete jobs, webhooks, the tenant's keys);
``admin`` holds the other two.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from designsvc.core.errors import DesignsvcError
from designsvc.core.jobs import JobStore, now_rfc3339
from designsvc.core.types import JsonDict

__all__ = [
    "COLLECTION",
    "SCOPES",
    "ApiKeyInfo",
    "AuthenticationError",
    "NewApiKey",
    "Principal",
    "create_key",
    "has_active_keys",
    "list_keys",
    "parse_scopes",
    "revoke_key",
    "verify_key",
]

COLLECTION = "api_keys"
SCOPES = ("read", "submit", "admin")
_KEY = re.compile(r"dsk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}")


class AuthenticationError(DesignsvcError):
    """The request's key is missing, malformed, unknown, revoked or expired (401)."""


@dataclass(frozen=True)
class Principal:
    """Who makes a request: ``tenant`` owns what it makes; ``key_id`` is None in the open
    (keyless) embedded mode."""

    tenant: str
    scopes: frozenset[str]
    key_id: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class ApiKeyInfo:
    """A stored key without its secret."""

    id: str
    tenant: str
    scopes: tuple[str, ...]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    name: str

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not _expired(self.expires_at)

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "name": self.name,
            "active": self.active,
        }


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: ``key`` is shown once and never stored."""

    key: str
    info: ApiKeyInfo


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"submit,read"`` (or a list) as a sorted tuple; ValueError naming unknown scopes."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = sorted(set(items) - set(SCOPES))
    if unknown or not items:
        raise ValueError(f"unknown scope(s) {', '.join(unknown) or '(none given)'}; use {', '.join(SCOPES)}")
    return tuple(sorted(set(items)))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _expired(expires_at: str | None, now: datetime | None = None) -> bool:
    if expires_at is None:
        return False
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return moment <= (now or datetime.now(UTC))


def _info(key_id: str, doc: JsonDict) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=key_id,
        tenant=str(doc["tenant"]),
        scopes=tuple(doc["scopes"]),
        created_at=str(doc["created_at"]),
        expires_at=doc.get("expires_at"),
        revoked_at=doc.get("revoked_at"),
        name=str(doc.get("name", "")),
    )


def create_key(
    store: JobStore,
    *,
    tenant: str,
    scopes: Sequence[str],
    expires_in_s: float | None = None,
    name: str = "",
) -> NewApiKey:
    """Make and store a key for ``tenant`` (ValueError for a bad tenant, scope or expiry)."""
    if not _TENANT.fullmatch(tenant):
        raise ValueError(f"invalid tenant {tenant!r}: use 1-64 letters, digits, '.', '_' or '-'")
    checked = parse_scopes(scopes)
    if expires_in_s is not None and expires_in_s <= 0:
        raise ValueError(f"the expiry must be in the future, got {expires_in_s} s")
    if len(name) > 200:
        raise ValueError("a key's name has at most 200 characters")
    expires_at = None
    if expires_in_s is not None:
        moment = datetime.now(UTC) + timedelta(seconds=expires_in_s)
        expires_at = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    while True:
        key_id = secrets.token_hex(6)
        key = f"dsk_{key_id}_{secrets.token_urlsafe(32)}"
        doc: JsonDict = {
            "tenant": tenant,
            "scopes": list(checked),
            "created_at": now_rfc3339(),
            "expires_at": expires_at,
            "revoked_at": None,
            "name": name,
            "sha256": _hash(key),
        }
        if store.put_record(COLLECTION, key_id, doc, only_new=True):
            return NewApiKey(key=key, info=_info(key_id, doc))


def list_keys(store: JobStore, *, tenant: str | None = None) -> list[ApiKeyInfo]:
    """Every key (of ``tenant`` when given), oldest first."""
    infos = [_info(key_id, doc) for key_id, doc in store.list_records(COLLECTION)]
    return sorted((i for i in infos if tenant is None or i.tenant == tenant), key=lambda i: i.created_at)


def revoke_key(store: JobStore, key_id: str, *, tenant: str | None = None) -> ApiKeyInfo:
    """Mark the key revoked (kept for the record); LookupError when there is no such key
    (of ``tenant``, when given)."""
    doc = store.get_record(COLLECTION, key_id) if re.fullmatch(r"[0-9a-f]{12}", key_id) else None
    if doc is None or (tenant is not None and doc["tenant"] != tenant):
        raise LookupError(f"no API key {key_id!r}")
    if doc.get("revoked_at") is None:
        doc["revoked_at"] = now_rfc3339()
        store.put_record(COLLECTION, key_id, doc)
    return _info(key_id, doc)


def verify_key(store: JobStore, key: str) -> Principal:
    """The principal of a presented key; AuthenticationError saying what is wrong."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise AuthenticationError("the API key is malformed (expected dsk_<id>_<secret>)")
    doc = store.get_record(COLLECTION, match.group(1))
    if doc is None or not hmac.compare_digest(str(doc.get("sha256", "")), _hash(key)):
        raise AuthenticationError("the API key is not valid")
    info = _info(match.group(1), doc)
    if info.revoked_at is not None:
        raise AuthenticationError(f"the API key {info.id} was revoked at {info.revoked_at}")
    if _expired(info.expires_at):
        raise AuthenticationError(f"the API key {info.id} expired at {info.expires_at}")
    return Principal(tenant=info.tenant, scopes=frozenset(info.scopes), key_id=info.id)


def has_active_keys(store: JobStore) -> bool:
    """Whether any stored key is neither revoked nor expired (keys configured)."""
    return any(_info(k, d).active for k, d in store.list_records(COLLECTION))
