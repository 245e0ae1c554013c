"""``surrogates.llm.openai_http``: streaming chat completions from a real (fake) OpenAI-compatible
server on loopback, answering with server-sent events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from surrogates.llm.openai_http import ChatServerError, OpenAIChatRunner
from surrogates.llm.runner import ChatRunner, complete, open_runner

PIECES = ["The ", "plan ", "has ", "three ", "sites", "."]


class FakeOpenAI(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if body["model"] == "missing":
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "model missing not found"}}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b": keep-alive\n\n")
        first = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
        self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
        for piece in PIECES[: body["max_tokens"]]:
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": piece}}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    FakeOpenAI.requests = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_streams_the_reply(server: str) -> None:
    runner = open_runner("tiny", base_url=server, api_key="secret")
    assert isinstance(runner, OpenAIChatRunner)
    assert isinstance(runner, ChatRunner)
    pieces = list(runner.stream_chat([{"role": "user", "content": "Plan it."}], 16, temperature=0.7, seed=3))
    assert pieces == PIECES
    (request,) = FakeOpenAI.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer secret"
    body = request["body"]
    assert body["stream"] is True
    assert body["model"] == "tiny"
    assert body["seed"] == 3
    assert body["messages"] == [{"role": "user", "content": "Plan it."}]
    assert complete(runner, [{"role": "user", "content": "Short."}], 2) == "The plan "


def test_server_errors_are_clear(server: str) -> None:
    with pytest.raises(ChatServerError, match=r"HTTP 404.*model missing not found"):
        list(OpenAIChatRunner(server, "missing").stream_chat([{"role": "user", "content": "x"}]))
    dead = OpenAIChatRunner("http://127.0.0.1:9/v1", "tiny", timeout_s=2.0)
    with pytest.raises(ChatServerError, match="cannot talk to the chat server"):
        list(dead.stream_chat([{"role": "user", "content": "x"}]))
