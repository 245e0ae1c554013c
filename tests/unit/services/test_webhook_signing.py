"""Standard Webhooks signatures: the spec's published test vector, an independent HMAC of the
spec's formula, secrets, headers, the retry schedule's parsing and URL checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from designsvc.core.errors import SpecError
from designsvc.services.webhooks import new_secret, parse_schedule, sign, signed_headers, validate_url

# The test vector of the Standard Webhooks reference libraries (test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _reference_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The spec's formula written out: base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed
    with the base64-decoded secret after "whsec_"."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_the_spec_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    assert _reference_signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_signatures_follow_the_formula_for_new_secrets() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret
    body = '{"type":"job.succeeded","data":{"id":"x","tags":["é"]}}'
    assert sign(secret, "01900000-0000-7000-8000-000000000000", 1_700_000_000, body) == _reference_signature(
        secret, "01900000-0000-7000-8000-000000000000", 1_700_000_000, body
    )


def test_signed_headers_verify_and_several_signatures_are_accepted() -> None:
    secret = new_secret()
    body = '{"type":"job.failed"}'
    headers = signed_headers(secret, "msg-1", body)
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert Webhook(secret).verify(body, headers) == {"type": "job.failed"}
    # A receiver rotating secrets: several space-separated signatures, one of them valid.
    other = signed_headers(new_secret(), "msg-1", body, timestamp=int(headers["webhook-timestamp"]))
    both = {**headers, "webhook-signature": f"{other['webhook-signature']} {headers['webhook-signature']}"}
    assert Webhook(secret).verify(body, both) == {"type": "job.failed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, other)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + " ", headers)


def test_parse_schedule() -> None:
    assert parse_schedule("5, 300,1800") == (5.0, 300.0, 1800.0)
    assert parse_schedule("0.2") == (0.2,)
    for bad in ("-1", "nan", "inf", "soon"):
        with pytest.raises(ValueError):  # noqa: PT011 - float() or ours
            parse_schedule(bad)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://example.com/a?b=c", "HTTPS://example.com", "http://[::1]:9/x"]
)
def test_good_urls(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/hook",
        "https://user:pw@example.com/",
        "https://token@example.com/",
        "http://",
        "https://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "javascript:alert(1)",
        "https://example.com/" + "a" * 3000,
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(SpecError) as caught:
        validate_url(url)
    assert [e.pointer for e in caught.value.errors] == ["/url"]


def test_private_addresses_are_named() -> None:
    from designsvc.services.webhooks import private_address

    assert "non-public" in (private_address("http://127.0.0.1:8080/hook") or "")
    assert "non-public" in (private_address("http://10.1.2.3/hook") or "")
    assert "non-public" in (private_address("http://169.254.169.254/latest/meta-data") or "")
    assert "non-public" in (private_address("http://[::1]:9000/") or "")
    assert private_address("http://93.184.215.14/hook") is None  # a public address, no lookup needed


def test_a_distributed_dispatcher_refuses_private_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    from designsvc.services.webhooks import WebhookDispatcher

    monkeypatch.delenv("DESIGNSVC_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.setenv("DESIGNSVC_REDIS_URL", "redis://127.0.0.1:6379/0")
    dispatcher = WebhookDispatcher.from_env(store=None)  # type: ignore[arg-type]
    assert not dispatcher.allow_private
    outcome = dispatcher._send("http://127.0.0.1:1/hook", "whsec_" + "A" * 44, "msg_1", "{}")
    assert outcome.status_code is None
    assert outcome.error is not None
    assert outcome.error.startswith("refused")
    monkeypatch.setenv("DESIGNSVC_WEBHOOK_ALLOW_PRIVATE", "1")
    assert WebhookDispatcher.from_env(store=None).allow_private  # type: ignore[arg-type]
    monkeypatch.delenv("DESIGNSVC_REDIS_URL")
    monkeypatch.delenv("DESIGNSVC_WEBHOOK_ALLOW_PRIVATE")
    assert WebhookDispatcher.from_env(store=None).allow_private  # type: ignore[arg-type]
