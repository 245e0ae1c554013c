"""The remote CLI commands end to end, as a user runs them: an embedded server
(``designsvc serve``: SQLite store and local process pool, in a subprocess, its data in a
temporary folder), then ``designsvc submit/status/result/cancel/batch`` as subprocesses
talking to it through the Client. Exit codes: 0 done, 1 job not succeeded (or not finished),
2 bad input, 3 server unreachable."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from designsvc.client import Client, ClientError, FieldProblem, ServerUnreachableError, _parse_sse

pytestmark = pytest.mark.integration

DESIGNSVC = str(Path(sys.executable).with_name("designsvc"))
QUICK_SPEC = {"problem": "assignment@1", "instance_ref": "builtin:gap-10x3", "limits": {"time_limit_s": 20}}
LONG_SPEC = {
    "problem": "assignment@1",
    "instance_ref": "generate:seed=1,items=400,bins=20",
    "limits": {"time_limit_s": 120, "rel_gap": 0},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESIGNSVC_")}
    if url is not None:
        env["DESIGNSVC_URL"] = url
    return env


def run(*args: str, url: str | None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DESIGNSVC, *args], capture_output=True, text=True, timeout=timeout, check=False, env=cli_env(url)
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("embedded-server")
    port = free_port()
    env = cli_env(None) | {"DESIGNSVC_DATA_DIR": str(tmp / "data"), "PYTHONUNBUFFERED": "1"}
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [DESIGNSVC, "serve", "--port", str(port), "--workers", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with Client(url, timeout_s=2) as client:
            while True:
                assert proc.poll() is None, (tmp / "serve.log").read_text()
                try:
                    client.health()
                    break
                except ServerUnreachableError:
                    assert time.monotonic() < deadline, "the embedded server did not start"
                    time.sleep(0.2)
        yield url
        assert (tmp / "data" / "jobs.sqlite3").exists()  # the embedded store, in DESIGNSVC_DATA_DIR
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)
        log.close()


def write(tmp_path: Path, document: Any, name: str = "spec.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_submit_wait_prints_the_result_summary(server: str, tmp_path: Path) -> None:
    proc = run("submit", str(write(tmp_path, QUICK_SPEC)), "--wait", url=server)
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout.splitlines()[0]
    assert "outcome    optimal / optimal" in proc.stdout


def test_submit_status_result_json(server: str, tmp_path: Path) -> None:
    spec = write(
        tmp_path, "problem: assignment@1\ninstance_ref: builtin:gap-10x3\nlimits: {time_limit_s: 20}\n", "s.yaml"
    )
    proc = run("submit", str(spec), url=server)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    assert len(job_id) == 36  # just the id: scriptable
    status = run("status", job_id, url=server)
    assert status.returncode == 0, status.stderr
    assert job_id in status.stdout
    with Client(server) as client:
        assert client.wait(job_id, timeout_s=120, poll_s=0.2)["status"] == "succeeded"
    status = run("status", job_id, url=server)
    assert "succeeded" in status.stdout
    assert "finished" in status.stdout
    result = run("result", job_id, "--json", url=server)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # nothing but the result document on stdout
    assert document["id"] == job_id
    assert document["status"] == "succeeded"
    human = run("result", job_id, url=server)
    assert human.returncode == 0
    assert human.stdout.startswith(f"job        {job_id}")


def test_cancel_a_running_job(server: str, tmp_path: Path) -> None:
    job_id = run("submit", str(write(tmp_path, LONG_SPEC)), url=server).stdout.strip()
    with Client(server) as client:
        deadline = time.monotonic() + 60
        while client.get(job_id)["status"] != "running":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        time.sleep(4)  # a first design
        not_ready = run("result", job_id, url=server)
        assert not_ready.returncode == 1
        assert "running" in not_ready.stderr
        proc = run("cancel", job_id, url=server)
        assert proc.returncode == 0, proc.stderr
        assert "cancel" in proc.stdout
        assert client.wait(job_id, timeout_s=60, poll_s=0.2)["status"] == "canceled"
    result = run("result", job_id, url=server)
    assert result.returncode == 1  # it did not succeed
    assert "canceled" in result.stdout
    assert "interrupted / feasible" in result.stdout


def test_batch_wait_prints_the_aggregate_table(server: str, tmp_path: Path) -> None:
    request = {
        "spec": {"problem": "assignment@1", "limits": {"time_limit_s": 20}},
        "generate": {"seeds": [1, 2], "size": {"items": 12, "bins": 3}},
        "grid": {"solver.name": ["highs", "cpsat"]},
    }
    path = write(tmp_path, request, "batch.json")
    proc = run("batch", str(path), "--wait", url=server, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("batch      ")
    assert "4/4 finished" in lines[0]
    assert lines[1].split()[:3] == ["scenario", "solver.name", "runs"]
    assert len(lines) == 2 + 4
    batch_id = run("batch", str(path), url=server).stdout.strip()
    assert len(batch_id) == 36


def test_bad_spec_exits_2_with_pointers(server: str, tmp_path: Path) -> None:
    bad = {**QUICK_SPEC, "limits": {"time_limit_s": -1, "threads": 0}}
    proc = run("submit", str(write(tmp_path, bad)), url=server)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert {line.split(":")[1].strip() for line in lines} == {"/limits/time_limit_s", "/limits/threads"}
    assert all(line.startswith("error: /limits/") for line in lines)
    assert proc.stdout == ""

    bad_batch = {"spec": {"problem": "assignment@1"}, "generate": {"seeds": [1]}, "grid": {"solver.name": ["nope"]}}
    proc = run("batch", str(write(tmp_path, bad_batch, "b.json")), url=server)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: /grid/solver.name: unknown solver 'nope'")

    assert run("submit", str(tmp_path / "missing.json"), url=server).returncode == 2
    unknown = run("status", "01a2233f-0000-7000-8000-000000000000", url=server)
    assert unknown.returncode == 2
    assert "no job with id" in unknown.stderr


def test_server_down_exits_3(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    spec = str(write(tmp_path, QUICK_SPEC))
    for args in (("submit", spec), ("status", "x"), ("result", "x", "--json"), ("cancel", "x"), ("batch", spec)):
        proc = run(*args, url=down, timeout=60)
        assert proc.returncode == 3, (args, proc.stderr)
        assert proc.stderr.startswith(f"error: cannot reach the designsvc server at {down}")
    proc = run("status", "x", "--url", down, url=None)  # --url, not only $DESIGNSVC_URL
    assert proc.returncode == 3


# -- the client on its own -------------------------------------------------------------------


def test_client_errors_carry_the_problem_document(server: str) -> None:
    with Client(server) as client:
        with pytest.raises(ClientError) as caught:
            client.submit({**QUICK_SPEC, "limits": {"time_limit_s": 0}})
        error = caught.value
        assert error.status == 422
        assert error.problem["type"].endswith("invalid-spec")
        assert error.lines() == [str(error.errors[0])]
        assert error.errors[0].pointer == "/limits/time_limit_s"
        assert client.validate(QUICK_SPEC)["model"]["variables"] > 0
        assert any(p["id"] == "assignment@1" for p in _items(client.problems()))
        assert any(s["name"] == "highs" for s in _items(client.solvers()))


def _items(document: Any) -> list[dict[str, Any]]:
    return list(document["items"] if isinstance(document, dict) else document)


def test_sse_parsing() -> None:
    stream = [
        ": keepalive",
        "",
        "id: 1",
        "event: stage",
        'data: {"id":1,"type":"stage","data":{"stage":"build"}}',
        "",
        "id: 2",
        "event: log",
        "data: line one",
        "data: line two",
        "",
        "event: end",
        'data: {"job_id":"j","status":"succeeded"}',
        "",
    ]
    events = list(_parse_sse(iter(stream)))
    assert [(e.id, e.type) for e in events] == [(1, "stage"), (2, "log"), (None, "end")]
    assert events[0].data["data"] == {"stage": "build"}
    assert events[1].data == "line one\nline two"
    assert events[2].data["status"] == "succeeded"
    assert str(FieldProblem("bad", pointer="")) == "/: bad"
    assert str(FieldProblem("missing", parameter="Idempotency-Key", location="header")).startswith("header parameter")


def test_demo_runs_the_embedded_service_end_to_end(tmp_path: Path) -> None:
    """The README's main command: service inside the command, example specs over REST."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESIGNSVC_")}
    env["DESIGNSVC_DATA_DIR"] = str(tmp_path / "data")
    out = tmp_path / "out"
    proc = subprocess.run(
        [DESIGNSVC, "demo", "--out", str(out), "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:3] == ["problem", "job", "status"]
    by_kind = {row.split()[0]: row.split() for row in rows if row.strip() and "@" in row.split()[0]}
    assert by_kind["assignment@1"][2] == "succeeded"
    result = json.loads((out / "assignment@1.result.json").read_text())
    assert result["evaluation"]["feasible"]
    for artifact in result["artifacts"]:
        assert (out / "assignment@1" / artifact["name"]).stat().st_size == artifact["size_bytes"]
    assert (tmp_path / "data" / "jobs.sqlite3").exists()  # the jobs were stored


def test_a_training_job_through_the_service_stores_its_checkpoint(server: str, tmp_path: Path) -> None:
    spec = {
        "train": {"name": "neuroplan", "options": {"iterations": 2, "steps_per_iteration": 32}},
        "problem": "network-planning@1",
        "instances": ["builtin:ring-5", "generate:seed=2,nodes=6"],
        "limits": {"time_limit_s": 300, "seed": 0},
    }
    proc = run("submit", str(write(tmp_path, spec)), url=server)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.strip()
    with Client(server) as client:
        final = client.wait(job_id, timeout_s=300, poll_s=0.5)
        assert final["status"] == "succeeded", final
        result = client.result(job_id)
        assert result["kind"] == "training"
        data = client.artifact(job_id, result["checkpoint"]["artifact"])
        import hashlib

        assert hashlib.sha256(data).hexdigest() == result["checkpoint"]["sha256"]
        progress = [e.data["data"] for e in client.events(job_id) if e.type == "progress"]
        assert progress
        assert {"mean_return", "feasible_rate", "iteration"} <= set(progress[-1])
    # The downloaded checkpoint drives a solve job through the service.
    ckpt = tmp_path / "np.pt"
    ckpt.write_bytes(data)
    solve = {
        "problem": "network-planning@1",
        "instance_ref": "builtin:mesh-8",
        "proposer": {"name": "neuroplan", "options": {"checkpoint": str(ckpt)}},
        "limits": {"time_limit_s": 60},
    }
    proc = run("submit", str(write(tmp_path, solve, "solve.json")), "--wait", url=server)
    assert proc.returncode == 0, proc.stderr
    assert result["checkpoint"]["sha256"] in proc.stdout
