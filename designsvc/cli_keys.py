"""``designsvc keys``: make, list and revoke the API keys of the service's store.

The commands open the store the server uses (``$DESIGNSVC_STORE_URL``, else ``--redis`` /
``$DESIGNSVC_REDIS_URL``, else the embedded SQLite file under ``$DESIGNSVC_DATA_DIR``), so run
them where that store is reachable. A new key is printed once, on stdout alone (so
``KEY=$(designsvc keys create ...)`` works); its details go to stderr.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer

from designsvc.core.errors import DesignsvcError
from designsvc.core.jobs import JobStore

__all__ = ["keys_app", "parse_duration"]

keys_app = typer.Typer(
    name="keys",
    help="Make, list and revoke API keys (per tenant, with scopes and an expiry).",
    no_args_is_help=True,
)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

RedisOption = Annotated[
    str | None,
    typer.Option("--redis", envvar="DESIGNSVC_REDIS_URL", help="the distributed store's Redis (redis://HOST:PORT/DB)"),
]


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``30d``, ``2w`` as seconds; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration (e.g. 3600, 15m, 12h, 30d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _open(redis: str | None) -> JobStore:
    from designsvc.runtime import ServiceSettings, build_store

    settings = ServiceSettings.from_env()
    if redis:
        settings = settings.with_changes(redis_url=redis)
    try:
        return build_store(settings)
    except DesignsvcError as exc:
        raise _fail(str(exc)) from None


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="the tenant the key acts for")],
    scopes: Annotated[str, typer.Option("--scopes", help="comma-separated: read, submit, admin")] = "submit,read",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="lifetime: 3600, 15m, 12h, 30d, 2w (default: none)")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="a note to recognise the key by")] = "",
    redis: RedisOption = None,
) -> None:
    """Make a key and print it (once: only its hash is stored)."""
    from designsvc.services.keys import create_key

    try:
        seconds = None if expires_in is None else parse_duration(expires_in)
        store = _open(redis)
        try:
            new = create_key(store, tenant=tenant, scopes=scopes.split(","), expires_in_s=seconds, name=name)
        finally:
            store.close()
    except ValueError as exc:
        raise _fail(str(exc)) from None
    info = new.info
    typer.echo(
        f"key {info.id} for tenant {info.tenant}, scopes {','.join(info.scopes)}, "
        f"expires {info.expires_at or 'never'}; shown once, keep it safe:",
        err=True,
    )
    typer.echo(new.key)


@keys_app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant's keys")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    redis: RedisOption = None,
) -> None:
    """The keys (never their secrets): id, tenant, scopes, created, expires, revoked, active."""
    from designsvc.services.keys import list_keys

    store = _open(redis)
    try:
        infos = list_keys(store, tenant=tenant)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([i.to_json() for i in infos], indent=2))
        return
    if not infos:
        typer.echo("no API keys" + (f" for tenant {tenant}" if tenant else ""))
        return
    for i in infos:
        state = "active" if i.active else ("revoked" if i.revoked_at else "expired")
        typer.echo(
            f"{i.id}  {i.tenant:<16} {','.join(i.scopes):<18} {state:<8} created {i.created_at}  "
            f"expires {i.expires_at or 'never'}{'  ' + i.name if i.name else ''}"
        )


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="the key's id (from `keys list`)")],
    redis: RedisOption = None,
) -> None:
    """Revoke a key at once (requests with it get 401; the record is kept)."""
    from designsvc.services.keys import revoke_key

    store = _open(redis)
    try:
        info = revoke_key(store, key_id)
    except LookupError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    typer.echo(f"revoked key {info.id} of tenant {info.tenant} at {info.revoked_at}")
