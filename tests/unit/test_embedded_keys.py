"""The in-process embedded service (``designsvc demo``) works when the store has API keys: it
makes a key for its run and revokes it at the end."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from designsvc.localserver import embedded_server
from designsvc.services.keys import create_key, list_keys
from designsvc.store.sqlite import SqliteJobStore


def test_embedded_service_with_keys_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESIGNSVC_DATA_DIR", str(tmp_path))
    for name in ("DESIGNSVC_STORE_URL", "DESIGNSVC_REDIS_URL", "DESIGNSVC_REQUIRE_KEYS"):
        monkeypatch.delenv(name, raising=False)
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    create_key(store, tenant="acme", scopes=["read"])
    with embedded_server(workers=1) as service:
        assert service.api_key is not None
        assert httpx.get(f"{service.url}/v1/problems").status_code == 401
        keyed = httpx.get(f"{service.url}/v1/problems", headers={"Authorization": f"Bearer {service.api_key}"})
        assert keyed.status_code == 200
    runs = [k for k in list_keys(store) if k.name == "embedded run"]
    assert len(runs) == 1
    assert not runs[0].active  # revoked at the end
    store.close()


def test_embedded_service_without_keys_is_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESIGNSVC_DATA_DIR", str(tmp_path))
    for name in ("DESIGNSVC_STORE_URL", "DESIGNSVC_REDIS_URL", "DESIGNSVC_REQUIRE_KEYS"):
        monkeypatch.delenv(name, raising=False)
    with embedded_server(workers=1) as service:
        assert service.api_key is None
        assert httpx.get(f"{service.url}/v1/problems").status_code == 200
