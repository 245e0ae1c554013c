"""Schemathesis against the app's own OpenAPI document, in process (ASGI): for every operation,
valid and invalid requests never get a 5xx, every answer conforms to the document (status code,
content type, response schema), and every error is an RFC 9457 problem document whose field
errors point into the request (a JSON pointer into the body, or a named parameter).

Besides schemathesis's own positive and negative cases, each operation gets requests that reach
past the first check: path ids of jobs, a batch, an agent session and an artifact that exist,
and request bodies built from real problem kinds, instances, solvers and grids (the published
schemas say ``problem`` is a string, so schemathesis alone hardly ever names a known kind).

The app gets its own SQLite store (in a temporary folder) and an executor that runs nothing, as
in test_app.py: submitted jobs stay queued, so fuzzing ``POST /v1/jobs`` and ``POST /v1/batches``
never starts a solve. The run is bounded and deterministic for CI (``derandomize``, a few dozen
examples per operation)."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_helpers import MAX_BODY_BYTES, SMALL_SPEC
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from designsvc.api import create_app
from designsvc.core.jobs import Executor, JobStatus
from designsvc.core.plugins import PROBLEMS
from designsvc.runtime import ServiceSettings
from designsvc.services.jobs import execute_job
from designsvc.store.sqlite import SqliteJobStore

PROBLEM_JSON = "application/problem+json"
PARAMETER_LOCATIONS = {"query", "path", "header", "cookie"}
# RFC 6901: "" or a sequence of "/token", where "~" is only ever "~0" or "~1".
JSON_POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")
PATH_PARAMETER = re.compile(r"\{(\w+)\}")


class IdleExecutor(Executor):
    """Takes jobs and runs none of them (they stay queued): fuzzing never starts a solve."""

    name = "idle"

    def submit(self, job_id: str, *, queue: str = "cpu") -> None:
        del job_id, queue

    def shutdown(self, *, wait: bool = True) -> None:
        del wait


# Built at import: schemathesis reads the document when the module is collected.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="designsvc-openapi-fuzz-"))
atexit.register(shutil.rmtree, _DATA_DIR, ignore_errors=True)
_STORE = SqliteJobStore(_DATA_DIR / "jobs.sqlite3")
_APP = create_app(
    ServiceSettings(data_dir=_DATA_DIR, max_body_bytes=MAX_BODY_BYTES, workers=1),
    store=_STORE,
    executor=IdleExecutor(),
)
# Left out: the two operations that answer an open-ended Server-Sent Events stream. A job's events
# stream until the job ends, and with the idle executor no job ever ends; an agent message starts a
# turn (a job that runs the local LLM on the gpu queue) and streams the reply as it comes.
SCHEMA = (
    schemathesis.openapi.from_asgi("/openapi.json", _APP)
    .exclude(path="/v1/jobs/{job_id}/events", method="GET")
    .exclude(path="/v1/agent/sessions/{session_id}/messages", method="POST")
)


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation of the document that schemathesis cannot read
        operations[result.ok().label] = result.ok()
    return operations


OPERATIONS = _operations()


def points_into(document: Any, pointer: str) -> bool:
    """Whether ``pointer`` names a node of ``document``, or a place in an object of it (a
    member that is missing: required, or where a default would go); never a place inside a
    string or a number, or past the end of an array."""
    node = document
    for escaped in pointer.split("/")[1:]:
        token = escaped.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return True
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer (4xx, 5xx) is an RFC 9457 problem document: ``application/problem+json``
    with ``type``, ``title``, ``status`` (the response's) and ``detail``; each field error in
    ``errors`` has a ``detail`` and a JSON ``pointer`` into the body (see :func:`points_into`),
    or a ``parameter`` and where it is (``in``)."""
    del ctx
    status = response.status_code
    if status < 400:
        return None
    where = f"{response.request.method} {response.request.url} -> {status}"
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith(PROBLEM_JSON), f"{where}: content type {content_type!r}, not {PROBLEM_JSON}"
    body = json.loads(response.content) if response.content else None
    assert isinstance(body, dict), f"{where}: a problem document is a JSON object, got {body!r}"
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str), f"{where}: member {member!r} missing or not a string: {body}"
        assert body[member], f"{where}: member {member!r} is empty: {body}"
    assert body.get("status") == status, f"{where}: member 'status' is {body.get('status')!r}: {body}"
    errors = body.get("errors")
    if errors is None:
        return None
    assert isinstance(errors, list), f"{where}: 'errors' is not a list: {body}"
    for item in errors:
        assert isinstance(item, dict), f"{where}: an error item is not an object: {item!r}"
        assert isinstance(item.get("detail"), str), f"{where}: an error item has no detail: {item!r}"
        if "pointer" in item:
            pointer = item["pointer"]
            assert isinstance(pointer, str), f"{where}: pointer is not a string: {item!r}"
            assert JSON_POINTER.fullmatch(pointer), f"{where}: {pointer!r} is not a JSON pointer: {item!r}"
            if isinstance(case.body, dict | list):
                assert points_into(case.body, pointer), f"{where}: {pointer!r} is not in the body {case.body!r}"
        else:
            assert isinstance(item.get("parameter"), str), f"{where}: an error item has no pointer: {item!r}"
            assert item.get("in") in PARAMETER_LOCATIONS, f"{where}: parameter error without 'in': {item!r}"
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json,
]

# -- request bodies that know the service's names ------------------------------------------------

KINDS = PROBLEMS.names()
# A small instance of every kind (whose model builds in well under a second: validate builds it).
SMALL_INSTANCES = [
    ("assignment@1", "builtin:gap-10x3"),
    ("assignment", "generate:seed=3,items=6,bins=2"),
    ("network-planning@1", "builtin:ring-5"),
    ("table-sharding@1", "builtin:dlrm-10x4"),
    ("antenna@1", "builtin:three-branch-2g4"),
    ("photonics@1", "builtin:bend-lightweight-small"),
]
SPEC_MEMBERS = ["problem", "instance", "instance_ref", "solver", "proposer", "limits", "tags", "compare_baselines"]
BATCH_MEMBERS = ["spec", "scenarios", "generate", "grid", "repetitions", "tags"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
# Mostly in range, sometimes not.
numbers = st.integers(1, 60) | st.sampled_from([0, -1, 0.5, 1e-300, 10**7, 2**63])
tag_lists = st.lists(st.text(min_size=1, max_size=10), max_size=3)
# Unknown member names, often with the characters a JSON pointer escapes ("~" and "/").
member_names = st.text(st.sampled_from("~/.a0") | st.characters(), min_size=1, max_size=6)


def mutated(document: dict[str, Any], members: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """``document`` as it is, or with one member removed, or one member (``members`` or an
    unknown one) set to any JSON value."""
    removed = st.sampled_from(sorted(document)).map(lambda key: {k: v for k, v in document.items() if k != key})
    return st.one_of(
        st.just(document),
        removed if document else st.just(document),
        st.tuples(st.sampled_from(members) | member_names, json_values).map(lambda kv: {**document, kv[0]: kv[1]}),
    )


# The members of a spec besides problem and instance, valid (limits sometimes out of range).
SPEC_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "solver": st.fixed_dictionaries(
        {"name": st.sampled_from(["highs", "cpsat", "nope"])},
        optional={"options": st.dictionaries(st.sampled_from(["presolve", "x"]), st.just("on") | json_scalars)},
    ),
    "proposer": st.fixed_dictionaries({"name": st.sampled_from(["baseline-start", "nope"])}),
    "limits": st.fixed_dictionaries(
        {}, optional=dict.fromkeys(("time_limit_s", "rel_gap", "threads", "seed"), numbers)
    ),
    "tags": tag_lists,
    "compare_baselines": st.booleans(),
    "render": st.booleans(),
}


def _spec(kind_ref: tuple[str, str], members: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"problem": st.just(kind_ref[0]), "instance_ref": st.just(kind_ref[1])}, optional=members
    )


# Specs of small instances, then one member removed or set to any JSON value.
specs = (
    st.sampled_from(SMALL_INSTANCES)
    .flatmap(lambda kind_ref: _spec(kind_ref, SPEC_OPTIONS))
    .flatmap(lambda spec: mutated(spec, SPEC_MEMBERS))
)
# Batches of those scenarios (and a seed generator, a small grid), whose base spec has any member
# valid or not (a batch reads its base spec's tags and limits before it validates a cell), then
# mutated.
batches = (
    st.tuples(
        st.sampled_from(SMALL_INSTANCES).flatmap(
            lambda kind_ref: _spec(kind_ref, {k: v | json_values for k, v in SPEC_OPTIONS.items()})
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "grid": st.dictionaries(
                    st.sampled_from(["solver.name", "limits.seed", "limits.time_limit_s", "tags", "render"])
                    | member_names,
                    st.lists(st.sampled_from(["highs", "cpsat", 1, 30, True]) | json_values, min_size=1, max_size=2),
                    max_size=2,
                ),
                "generate": st.fixed_dictionaries(
                    {"seeds": st.lists(st.integers(-1, 5), min_size=1, max_size=2)},
                    optional={"size": st.dictionaries(st.sampled_from(["items", "bins", "x"]), st.integers(-1, 6))},
                ),
                "repetitions": st.integers(1, 3),
                "tags": tag_lists,
            },
        ),
    )
    .map(
        lambda spec_rest: {
            "spec": {k: v for k, v in spec_rest[0].items() if k != "instance_ref"},
            "scenarios": [{"name": "small", "instance_ref": spec_rest[0]["instance_ref"]}],
            # Generated scenarios only for assignment: other kinds' generators take seconds
            # (antenna simulates designs), and the request validates each one before answering.
            **{
                key: value
                for key, value in spec_rest[1].items()
                if key != "generate" or spec_rest[0]["problem"].startswith("assignment")
            },
        }
    )
    .flatmap(lambda batch: mutated(batch, BATCH_MEMBERS))
)
sessions = st.fixed_dictionaries(
    {},
    optional={
        "problem": st.sampled_from(KINDS) | json_values,
        "backend": st.fixed_dictionaries(
            {"name": st.sampled_from(["local", "nope"]) | json_values}, optional={"options": json_values}
        )
        | json_values,
    },
).flatmap(lambda session: mutated(session, ["problem", "backend"]))
# Training specs (``POST /v1/jobs`` with a ``train`` member), then mutated.
trainings = st.fixed_dictionaries(
    {
        "train": st.fixed_dictionaries(
            {"name": st.sampled_from(["neuroplan", "sharding-calibration", "nope"])},
            optional={"options": st.dictionaries(member_names, json_scalars, max_size=2)},
        ),
        "problem": st.sampled_from(["network-planning@1", "table-sharding@1"]),
        "instances": st.lists(st.sampled_from([ref for _, ref in SMALL_INSTANCES]) | json_values, max_size=3),
    },
    optional={"limits": SPEC_OPTIONS["limits"], "tags": tag_lists},
).flatmap(lambda training: mutated(training, ["train", "problem", "instances", "limits", "tags"]))
BODIES = {
    "POST /v1/jobs": specs | trainings,
    "POST /v1/jobs:validate": specs,
    "POST /v1/batches": batches,
    "POST /v1/agent/sessions": sessions,
}


# -- things that exist -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known() -> Iterator[dict[str, list[str]]]:
    """Path parameter values that name something in the store: jobs (queued, finished with an
    artifact, in a batch), the batch, an agent session, the artifact, every problem kind; and
    jobs of their own for DELETE (``deletable_job_id``), so no other operation loses its jobs."""
    client = TestClient(_APP)  # no lifespan: the app was given its store and executor

    def created(response: Any) -> str:
        assert response.status_code in (201, 202), response.text
        return str(response.json()["id"])

    def job(tag: str) -> str:
        return created(client.post("/v1/jobs", json={**SMALL_SPEC, "tags": [f"fuzz:{tag}"]}))

    finished, finished_to_delete = job("finished"), job("finished")
    for job_id in (finished, finished_to_delete):
        assert execute_job(_STORE, job_id).status is JobStatus.SUCCEEDED
    canceled_to_delete = job("canceled")
    _STORE.request_cancel(canceled_to_delete)
    batch = created(
        client.post(
            "/v1/batches",
            json={
                "spec": {"problem": "assignment@1", "render": False},
                "scenarios": [{"name": "s", "instance_ref": SMALL_SPEC["instance_ref"]}],
            },
        )
    )
    artifacts = [a["name"] for a in client.get(f"/v1/jobs/{finished}/artifacts").json()["items"]]
    assert artifacts
    yield {
        "job_id": [job("queued"), finished, *(r.id for r in _STORE.list_jobs(batch_id=batch).items)],
        "deletable_job_id": [job("queued"), finished_to_delete, canceled_to_delete],
        "batch_id": [batch],
        "session_id": [created(client.post("/v1/agent/sessions", json={}))],
        "kind": [*KINDS, *(k.split("@")[0] for k in KINDS)],
        "name": artifacts,
    }
    _STORE.close()


def _strategy(operation: Any, known: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """Schemathesis's valid and invalid cases, cases naming things that exist, and cases with
    the bodies above, which get the larger share. (An operation whose every input is valid has
    no invalid cases.)"""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    parameters = PATH_PARAMETER.findall(operation.path)
    prefix = "deletable_" if operation.method.upper() == "DELETE" else ""
    if parameters and all(p in known for p in parameters):
        values = {p: st.sampled_from(known.get(prefix + p) or known[p]) for p in parameters}
        combos = st.fixed_dictionaries(values).flatmap(
            lambda p: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=p)
        )
        strategies += [combos, combos]
    body = BODIES.get(operation.label)
    if body is not None:
        bodies = body.flatmap(lambda b: operation.as_strategy(body=b, media_type="application/json"))
        strategies += [bodies] * 4
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


# One test per operation. (schemathesis's own pytest collection gives every operation the same
# node id under pytest 9.2, which xdist, -k and the reports cannot tell apart.)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_operation_answers_within_its_contract(label: str, known: dict[str, list[str]], data: st.DataObject) -> None:
    case = data.draw(_strategy(OPERATIONS[label], known), label="case")
    case.call_and_validate(checks=CHECKS)
