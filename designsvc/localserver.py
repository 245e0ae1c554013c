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

__all__ = ["embedded_server"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_server(*, workers: int | None = None, start_timeout_s: float = 60.0) -> Iterator[str]:
    """Run the API in a thread; yield its base URL; stop it (and its pool) on exit."""
    import uvicorn

    from designsvc.api.app import create_app
    from designsvc.runtime import ServiceSettings

    settings = ServiceSettings.from_env().with_changes(redis_url=None, workers=workers)
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="designsvc-embedded", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the embedded service failed to start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the embedded service did not start within {start_timeout_s:g} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
