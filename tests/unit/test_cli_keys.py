"""``designsvc keys`` and the server's refusal to open an embedded service to the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from designsvc.cli import app
from designsvc.cli_keys import parse_duration
from designsvc.services.keys import verify_key
from designsvc.store.sqlite import SqliteJobStore


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESIGNSVC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DESIGNSVC_STORE_URL", raising=False)
    monkeypatch.delenv("DESIGNSVC_REDIS_URL", raising=False)
    return tmp_path


def test_keys_create_list_revoke(data_dir: Path) -> None:
    runner = CliRunner()
    assert "no API keys" in runner.invoke(app, ["keys", "list"]).output
    made = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scopes", "submit,read", "--expires-in", "30d"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("dsk_")
    store = SqliteJobStore(data_dir / "jobs.sqlite3")
    principal = verify_key(store, key)
    assert (principal.tenant, sorted(principal.scopes)) == ("acme", ["read", "submit"])
    listed = runner.invoke(app, ["keys", "list"])
    assert principal.key_id is not None
    assert principal.key_id in listed.output
    assert "active" in listed.output
    assert key not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", principal.key_id])
    assert revoked.exit_code == 0
    assert "revoked" in revoked.output
    assert "revoked" in runner.invoke(app, ["keys", "list"]).output
    with pytest.raises(Exception, match="revoked"):
        verify_key(store, key)
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "create", "--tenant", "acme", "--scopes", "write"], "unknown scope"),
        (["keys", "create", "--tenant", "a b"], "invalid tenant"),
        (["keys", "create", "--tenant", "acme", "--expires-in", "soon"], "not a duration"),
        (["keys", "revoke", "0123456789ab"], "no API key"),
    ],
)
def test_keys_bad_input_is_exit_2(data_dir: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "2h", "1d", "1w")] == [90, 90, 900, 7200, 86400, 604800]
    for bad in ("", "0", "-5", "3y", "1.5.2h"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_serve_refuses_a_network_address_without_keys(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code == 2
    assert "keys create" in result.output
