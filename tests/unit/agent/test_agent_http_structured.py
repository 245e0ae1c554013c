"""Structured output over an OpenAI-compatible HTTP server: ``OpenAIChatRunner.fill`` sends the
form's JSON Schema as ``response_format`` (``json_schema``, strict), checks the reply against
it, retries once with what is wrong, and fails clearly rather than return a value outside the
schema. The server is a real one on loopback (http.server in a thread) with canned replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from designsvc.agent.forms import draft_schema
from designsvc.core.plugins import PROBLEMS
from surrogates.llm.openai_http import ChatServerError, OpenAIChatRunner, StructuredOutputError, parse_reply
from surrogates.llm.runner import ChatMessage
from surrogates.llm.schema_check import builtin_schema_errors, schema_errors

CHAT: list[ChatMessage] = [{"role": "user", "content": "Solve the builtin gap-10x3 with highs, time limit 30 seconds"}]
FORM = draft_schema("assignment@1", [CHAT[0]["content"]])
VALID = {
    "instance": "gap-10x3",
    "solver": "highs",
    "proposer": "none",
    "time_limit_s": 30,
    "seed": None,
    "compare_baselines": False,
}
OUTSIDE = {**VALID, "instance": "gap-99x9", "solver": "gurobi", "time_limit_s": -5}

# model name -> the replies of its successive requests (the last one repeats)
SCRIPTS: dict[str, list[str]] = {
    "valid": [json.dumps(VALID)],
    "flaky": [json.dumps(OUTSIDE), json.dumps(VALID)],
    "broken": ["Sure! The spec is: instance gap-10x3", json.dumps(OUTSIDE)],
    "fenced": ["```json\n" + json.dumps(VALID) + "\n```"],
}


class FakeStructuredServer(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeStructuredServer.requests.append({"path": self.path, "body": body})
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        model = body["model"]
        script = SCRIPTS[model.removesuffix("-plain")]
        count = sum(r["body"]["model"] == model for r in FakeStructuredServer.requests)
        text = script[min(count, len(script)) - 1]
        if model.endswith("-plain"):  # a server that ignores "stream" and answers one object
            payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for start in range(0, len(text), 7):
            chunk = {"choices": [{"index": 0, "delta": {"content": text[start : start + 7]}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeStructuredServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    FakeStructuredServer.requests = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _bodies() -> list[dict[str, Any]]:
    return [r["body"] for r in FakeStructuredServer.requests]


def test_the_request_carries_the_schema_and_a_fitting_reply_is_returned(server: str) -> None:
    pieces: list[str] = []
    value = OpenAIChatRunner(server, "valid").fill(CHAT, FORM, name="assignment draft", on_piece=pieces.append)
    assert value == VALID
    assert json.loads("".join(pieces)) == VALID  # the reply streamed piece by piece
    (body,) = _bodies()
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "assignment_draft", "schema": FORM, "strict": True},
    }
    assert body["stream"] is True
    assert body["temperature"] == 0.0
    assert body["messages"] == CHAT


def test_a_misfit_is_sent_back_once_with_its_errors(server: str) -> None:
    value = OpenAIChatRunner(server, "flaky").fill(CHAT, FORM)
    assert value == VALID
    first, second = _bodies()
    assert first["response_format"] == second["response_format"]
    assert second["messages"][: len(CHAT)] == CHAT
    assistant, correction = second["messages"][len(CHAT) :]
    assert assistant == {"role": "assistant", "content": json.dumps(OUTSIDE)}
    assert correction["role"] == "user"
    assert "/instance" in correction["content"]
    assert "/solver" in correction["content"]
    assert "/time_limit_s" in correction["content"]


def test_a_server_that_never_fits_is_a_clear_error(server: str) -> None:
    runner = OpenAIChatRunner(server, "broken")
    with pytest.raises(StructuredOutputError, match=r"no JSON fitting the schema 'response' in 2 attempt") as info:
        runner.fill(CHAT, FORM)
    assert isinstance(info.value, ChatServerError)  # a RuntimeError: a turn reports it as its error
    assert info.value.text == json.dumps(OUTSIDE)
    assert any(e.startswith("/solver") for e in info.value.errors)
    _first, second = _bodies()
    assert "not valid JSON" in second["messages"][-1]["content"]  # the first reply was prose
    assert len(_bodies()) == 2  # one retry, no more


def test_no_retry_when_asked_for_none(server: str) -> None:
    with pytest.raises(StructuredOutputError, match="in 1 attempt"):
        OpenAIChatRunner(server, "flaky").fill(CHAT, FORM, retries=0)
    assert len(_bodies()) == 1


def test_a_fenced_non_streamed_reply_is_read(server: str) -> None:
    assert OpenAIChatRunner(server, "fenced-plain").fill(CHAT, FORM) == VALID


def test_a_kinds_pydantic_instance_schema(server: str) -> None:
    """A pydantic model is sent as its JSON Schema and checked by pydantic itself."""
    kind = PROBLEMS.load("assignment@1")
    instance = kind.builtin_instances()["gap-10x3"]().model_dump(mode="json")
    SCRIPTS["instance"] = [json.dumps({**instance, "capacities": [-1]}), json.dumps(instance)]
    try:
        assert OpenAIChatRunner(server, "instance").fill(CHAT, kind.instance_schema) == instance
    finally:
        del SCRIPTS["instance"]
    first, second = _bodies()
    sent = first["response_format"]["json_schema"]
    assert sent["schema"] == kind.instance_schema.model_json_schema()
    assert sent["name"] == "assignment_1_instance"  # its title, as the letters OpenAI allows in a name
    assert "/capacities" in second["messages"][-1]["content"]


def test_the_checker() -> None:
    assert schema_errors(VALID, FORM) == []
    assert {e.split(":")[0] for e in schema_errors(OUTSIDE, FORM)} == {"/instance", "/solver", "/time_limit_s"}
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "multipleOf": 2},
            "xs": {"type": "array", "items": {"$ref": "#/$defs/x"}, "maxItems": 2, "uniqueItems": True},
            "b": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
        },
        "required": ["n"],
        "additionalProperties": False,
        "$defs": {"x": {"type": "string", "pattern": "^[a-z]+$"}},
    }
    assert builtin_schema_errors({"n": 4, "xs": ["ab"], "b": None}, schema) == []
    assert builtin_schema_errors({"n": 2.0}, schema) == []  # 2.0 is an integer in JSON
    bad = builtin_schema_errors({"n": 3, "xs": ["A", "b", "b"], "b": 1, "z": 0}, schema)
    assert {e.split(":")[0] for e in bad} == {"/", "/n", "/xs", "/xs/0", "/b"}
    assert builtin_schema_errors(True, {"type": "integer"})  # a boolean is no number
    assert parse_reply("NaN")[1] is not None
    assert parse_reply("  ")[1] == "the reply is empty: expected a JSON value"


def test_an_agent_turn_on_the_openai_backend(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``openai`` agent backend: the worker's environment names the server; the turn's
    draft comes back schema-checked and the spec is assembled from it."""
    from designsvc.agent.turn import resolve_agent_turn, run_agent_turn

    monkeypatch.setenv("DESIGNSVC_AGENT_OPENAI_URL", server)
    monkeypatch.setenv("DESIGNSVC_AGENT_OPENAI_MODEL", "flaky")
    turn = resolve_agent_turn(
        {
            "agent_turn": {
                "session_id": "s1",
                "problem": "assignment@1",
                "backend": {"name": "openai"},
                "messages": [{"role": "user", "content": CHAT[0]["content"]}],
            }
        }
    )
    result = run_agent_turn(turn)
    assert result["error"] is None, result
    assert result["spec"]["instance_ref"] == "builtin:gap-10x3"
    assert result["spec"]["limits"]["time_limit_s"] == 30
    assert len(FakeStructuredServer.requests) == 2  # the misfit was sent back once
    assert _bodies()[0]["response_format"]["type"] == "json_schema"


def test_the_openai_backend_without_a_server_is_a_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from designsvc.agent.turn import resolve_agent_turn, run_agent_turn

    monkeypatch.delenv("DESIGNSVC_AGENT_OPENAI_URL", raising=False)
    turn = resolve_agent_turn(
        {
            "agent_turn": {
                "session_id": "s1",
                "problem": "assignment@1",
                "backend": {"name": "openai", "options": {"model": "m"}},
                "messages": [{"role": "user", "content": "hello"}],
            }
        }
    )
    result = run_agent_turn(turn)
    assert result["error"] is not None
    assert "DESIGNSVC_AGENT_OPENAI_URL" in result["error"]["message"]
