"""docker-compose.yml and the Dockerfile agree with the CLI (no docker engine needed).

Every ``designsvc`` service is built from the one Dockerfile, whose entrypoint is
``designsvc``, so each service's ``command`` is a designsvc subcommand: its name and every
option it passes must exist in the typer app, and the command line must parse (values of the
right type, required options given). typer 0.29 vendors click (``typer._click``), so the
command objects are inspected by their attributes, not by click's classes.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from designsvc.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DESIGNSVC_SERVICES = ("api", "worker-cpu", "worker-gpu")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def cli() -> Any:
    command = typer.main.get_command(app)
    assert hasattr(command, "commands"), "the designsvc app is not a group of commands"
    return command


def _command_tokens(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    tokens = shlex.split(command) if isinstance(command, str) else [str(t) for t in command]
    if tokens and tokens[0] == "designsvc":  # the entrypoint written out is fine too
        tokens = tokens[1:]
    return tokens


def _dockerfile_instruction(name: str) -> str:
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    found = [line[len(name) :].strip() for line in lines if line.upper().startswith(name + " ")]
    assert found, f"the Dockerfile has no {name}"
    return found[-1]


def test_the_four_services_exist(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {"redis", *DESIGNSVC_SERVICES}


def test_every_designsvc_service_is_built_from_the_one_dockerfile(compose: dict[str, Any]) -> None:
    builds = set()
    for name in DESIGNSVC_SERVICES:
        build = compose["services"][name].get("build")
        assert build is not None, f"{name} is not built"
        if isinstance(build, str):
            build = {"context": build}
        context = (ROOT / build.get("context", ".")).resolve()
        dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
        builds.add(dockerfile)
    assert builds == {DOCKERFILE.resolve()}


def test_dockerfile_base_torch_and_entrypoint() -> None:
    assert _dockerfile_instruction("FROM") == "python:3.11-slim"
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "torch==2.13.0" in text
    assert "/whl/cpu" in text
    assert yaml.safe_load(_dockerfile_instruction("ENTRYPOINT")) == ["designsvc"]
    for package in ("designsvc", "problems", "solvers", "surrogates", "workers"):
        assert f"COPY {package} " in text, f"the image lacks the {package} package"


@pytest.mark.parametrize("name", DESIGNSVC_SERVICES)
def test_service_command_is_a_designsvc_command_with_known_options(
    compose: dict[str, Any], cli: Any, name: str
) -> None:
    tokens = _command_tokens(compose["services"][name])
    assert tokens, f"{name} has no command"
    subcommand = cli.commands.get(tokens[0])
    assert subcommand is not None, f"`designsvc {tokens[0]}` ({name}) does not exist"
    known = {
        opt
        for param in subcommand.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
    }
    for token in tokens[1:]:
        if token.startswith("--"):
            flag = token.partition("=")[0]
            assert flag in known, f"`designsvc {tokens[0]}` ({name}) has no option {flag}; it has {sorted(known)}"
    # The whole line parses as the CLI would parse it (types, ranges, required options),
    # with the environment's variables out of the way.
    with pytest.MonkeyPatch.context() as env:
        for param in subcommand.params:
            for var in [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ()):
                env.delenv(var, raising=False)
        context = subcommand.make_context(tokens[0], list(tokens[1:]))
    assert context.params


def test_commands_point_at_the_compose_redis(compose: dict[str, Any]) -> None:
    assert _command_tokens(compose["services"]["api"])[0] == "serve"
    for name in DESIGNSVC_SERVICES:
        tokens = _command_tokens(compose["services"][name])
        assert tokens[tokens.index("--redis") + 1] == "redis://redis:6379/0"
    assert "--host" in _command_tokens(compose["services"]["api"])
    queues = {
        name: _command_tokens(compose["services"][name])[
            _command_tokens(compose["services"][name]).index("--queues") + 1
        ]
        for name in ("worker-cpu", "worker-gpu")
    }
    assert queues == {"worker-cpu": "cpu", "worker-gpu": "gpu"}


def test_gpu_worker_reserves_an_nvidia_device(compose: dict[str, Any]) -> None:
    devices = compose["services"]["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert isinstance(devices, list)
    assert len(devices) == 1
    device = devices[0]
    assert device["driver"] == "nvidia"
    assert device["count"] == "all" or (isinstance(device["count"], int) and device["count"] >= 1)
    assert "device_ids" not in device  # count and device_ids exclude each other
    assert device["capabilities"] == ["gpu"]


def test_cpu_worker_is_scalable_with_replicas(compose: dict[str, Any]) -> None:
    replicas = compose["services"]["worker-cpu"]["deploy"]["replicas"]
    assert isinstance(replicas, int)
    assert replicas >= 1
    assert "container_name" not in compose["services"]["worker-cpu"]  # a fixed name cannot scale


def test_redis_keeps_every_key(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert str(redis["image"]).startswith("redis:7")
    command = redis["command"]
    tokens = shlex.split(command) if isinstance(command, str) else [str(t) for t in command]
    assert tokens[tokens.index("--maxmemory-policy") + 1] == "noeviction"
    assert tokens[tokens.index("--appendonly") + 1] == "yes"
    assert "redis-cli" in " ".join(map(str, redis["healthcheck"]["test"]))


def test_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "/healthz" in " ".join(map(str, services["api"]["healthcheck"]["test"]))
    for name in DESIGNSVC_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy", name


def test_workers_shut_down_cold_so_jobs_are_requeued(compose: dict[str, Any]) -> None:
    for name in ("worker-cpu", "worker-gpu"):
        service = compose["services"][name]
        assert service["stop_signal"] == "SIGQUIT", name
