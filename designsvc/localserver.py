"""The embedded service inside the current process: uvicorn on a free loopback port in a
background thread, with the default embedded settings (SQLite store under the data
directory, local process pool). For ``designsvc demo`` and for scripts that want the REST
API without starting a server themselves."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["EmbeddedService", "embedded_server"]


@dataclass(frozen=True)
class EmbeddedService:
    """The running service: its base URL and, when the store has API keys (so requests need
    one), a key of tenant ``default`` made for this run and revoked when it ends."""

    url: str
    api_key: str | None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_server(*, workers: int | None = None, start_timeout_s: float = 60.0) -> Iterator[EmbeddedService]:
    """Run the API in a thread; yield it (URL and key); stop it (and its pool) on exit."""
    import uvicorn

    from designsvc.api.app import create_app
    from designsvc.runtime import ServiceSettings, build_store
    from designsvc.services.keys import create_key, has_active_keys, revoke_key

    settings = ServiceSettings.from_env().with_changes(redis_url=None, workers=workers)
    store = build_store(settings)
    key = None
    if has_active_keys(store):
        key = create_key(store, tenant="default", scopes=["admin"], expires_in_s=24 * 3600, name="embedded run")
    port = _free_port()
    config = uvicorn.Config(create_app(settings, store=store), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="designsvc-embedded", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the embedded service failed to start (see the log above)")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise TimeoutError(f"the embedded service did not start within {start_timeout_s:g} s")
            time.sleep(0.05)
        yield EmbeddedService(f"http://127.0.0.1:{port}", None if key is None else key.key)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        if key is not None:
            with contextlib.suppress(Exception):
                revoke_key(store, key.info.id)
        store.close()
