"""The ``designsvc`` command line.

Local: ``solve``, ``validate``, ``example``, ``problems``, ``solvers`` run here, with no server.
Service: ``serve`` (the REST API; embedded SQLite store and process pool by default, Celery
over Redis with ``--redis``) and ``worker`` (a Celery worker). Remote, through
:class:`designsvc.client.Client` and the server at ``--url`` (default ``$DESIGNSVC_URL``, else
http://127.0.0.1:8000; ``$DESIGNSVC_API_KEY`` is sent as a bearer token): ``submit``,
``status``, ``result``, ``cancel``, ``batch``.

Exit codes:

- 0: done (a job or every job of a batch succeeded, or the command did what it says);
- 1: the job ran and failed or was canceled (a batch: some job did not succeed), or it has
  not finished yet (``result`` of a running job);
- 2: bad input: a spec error, an unknown name or id, an unreadable file; one line per error on
  stderr, naming the field as a JSON pointer (``error: /limits/time_limit_s: ...``);
- 3: the server cannot be reached (connection refused, timeout) or cannot serve the request
  (5xx, e.g. its store is down).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO

import typer

from designsvc.cli_keys import keys_app
from designsvc.core.errors import DesignsvcError, SpecError, UnknownNameError
from designsvc.core.types import JsonDict
from designsvc.nativeio import captured_native_output

if TYPE_CHECKING:
    from designsvc.client import Client
    from designsvc.services.pipeline import EventCallback, JobOutput
    from designsvc.services.validation import AnyJob

__all__ = ["app", "main"]

app = typer.Typer(
    name="designsvc",
    help="AI-guided combinatorial design optimization: solve design specs with MILP solvers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_document(path: str) -> Any:
    """Read a JSON or YAML document from ``path`` (``-`` for stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    if path.endswith((".yaml", ".yml")):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            _fail(f"{path} is not valid YAML: {exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")


def _spec_error(exc: SpecError) -> NoReturn:
    for error in exc.errors:
        typer.echo(f"error: {error.pointer or '/'}: {error.message}", err=True)
    raise typer.Exit(2)


@app.command()
def solve(
    spec_path: Annotated[str, typer.Argument(metavar="SPEC", help="spec file (JSON or YAML), '-' for stdin")],
    solver: Annotated[str | None, typer.Option("--solver", help="override solver.name")] = None,
    proposer: Annotated[str | None, typer.Option("--proposer", help="override proposer.name")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="override limits.time_limit_s")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override limits.seed")] = None,
    compare_baselines: Annotated[bool, typer.Option("--compare-baselines", help="compare with every baseline")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly the result document")] = False,
    artifacts: Annotated[Path | None, typer.Option("--artifacts", help="write artifacts into this folder")] = None,
) -> None:
    """Solve one spec here, with no server: a progress bar on stderr, the result on stdout."""
    from designsvc.services.validation import resolve_spec

    document = load_document(spec_path)
    if isinstance(document, dict):
        document = apply_overrides(
            document,
            solver=solver,
            proposer=proposer,
            time_limit=time_limit,
            seed=seed,
            compare_baselines=compare_baselines,
        )
    from designsvc.progress import SolveProgress

    try:
        with captured_native_output() as terminal:
            job = resolve_spec(document)
            with SolveProgress(job.spec.limits.time_limit_s, stream=terminal, enabled=terminal.isatty()) as bar:
                output = _run_interruptible(job, bar.on_event, terminal)
    except SpecError as exc:
        _spec_error(exc)
    result = output.result
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
        for artifact in output.artifacts:
            (artifacts / artifact.name).write_bytes(artifact.data)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(summarize(result, artifacts))
    if result["status"] != "succeeded":
        raise typer.Exit(1)


def _run_interruptible(job: AnyJob, on_event: EventCallback, terminal: TextIO) -> JobOutput:
    """Run the job in a thread while the main thread waits, so Ctrl-C is seen at once (a
    solver's C code does not return to Python until it ends): the first Ctrl-C cancels
    through the solver's interrupt and keeps the best design so far; a second one aborts."""
    from designsvc.core.cancel import CancelToken
    from designsvc.services.pipeline import run_any

    token = CancelToken()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["output"] = run_any(job, on_event=on_event, cancel_token=token)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc
        finally:
            done.set()

    # Wait on an Event, not Thread.join: a join interrupted by Ctrl-C can leave the thread
    # marked finished while it still runs (Python before 3.13).
    threading.Thread(target=work, name="designsvc-solve", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        print("interrupted: stopping the solver, keeping the best design so far (Ctrl-C again aborts)", file=terminal)
        token.cancel()
        while not done.wait(0.1):
            pass
    if "error" in outcome:
        raise outcome["error"]
    output: JobOutput = outcome["output"]
    return output


def apply_overrides(
    document: JsonDict,
    *,
    solver: str | None = None,
    proposer: str | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    compare_baselines: bool = False,
) -> JsonDict:
    """The spec with command-line overrides applied (a new dict; the input is not changed)."""
    spec: JsonDict = json.loads(json.dumps(document))
    if solver is not None:
        current = spec.get("solver")
        if not isinstance(current, dict):
            current = {}
        spec["solver"] = {
            "name": solver,
            "options": current.get("options", {}) if current.get("name") == solver else {},
        }
    if proposer is not None:
        spec["proposer"] = {"name": proposer, "options": {}}
    limits = spec.setdefault("limits", {})
    if isinstance(limits, dict):
        if time_limit is not None:
            limits["time_limit_s"] = time_limit
        if seed is not None:
            limits["seed"] = seed
    if compare_baselines:
        spec["compare_baselines"] = True
    return spec


def _fmt(value: Any, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def summarize(result: JsonDict, artifacts_dir: Path | None = None) -> str:
    """A human summary of a result document."""
    lines = [f"job        {result['id']}  {result['problem']}  {result['status']}"]
    outcome = result.get("outcome") or {}
    solver = result.get("solver") or {}
    lines.append(
        f"outcome    {outcome.get('termination')} / {outcome.get('solution_status')}"
        + (f"  ({solver['solver']} {solver['solver_version']}, {solver['wall_time_s']:.2f} s)" if solver else "")
    )
    gap = result.get("gap")
    lines.append(
        f"objective  {_fmt(result.get('objective'))}  bound {_fmt(result.get('bound'))}"
        f"  gap {'-' if gap is None else f'{100 * gap:.3g}%'}"
    )
    evaluation = result.get("evaluation")
    if evaluation:
        verdict = "feasible" if evaluation["feasible"] else "INFEASIBLE: " + "; ".join(evaluation["violations"][:3])
        lines.append(f"evaluation {verdict}, objective {_fmt(evaluation['objective'])}")
    for note in solver.get("notes", []) if solver else []:
        lines.append(f"note       {note}")
    if result.get("proposer"):
        p = result["proposer"]
        rounds = "; ".join(str(r.get("label")) for r in p.get("rounds", []) if r.get("label"))
        lines.append(f"proposer   {p['name']}: {p['asked']} round(s)" + (f" ({rounds})" if rounds else ""))
        fingerprint = (result.get("provenance") or {}).get("checkpoint_sha256")
        if fingerprint:
            lines.append(f"checkpoint sha256 {fingerprint}")
    for row in result.get("comparison") or []:
        gain, diff = row["improvement"], row.get("difference")
        if gain is not None:
            better = f"{100 * abs(gain):.2f}% {'better' if gain >= 0 else 'worse'}"
        elif diff is not None:  # the baseline's objective is 0: no relative figure
            better = f"{abs(diff):.4g} {'better' if diff >= 0 else 'worse'} (absolute)"
        else:
            better = "-"
        lines.append(
            f"baseline   {row['baseline']:<14} {_fmt(row['objective']):>12}"
            f"  {'feasible' if row['feasible'] else 'infeasible'}  ours {better}"
        )
    if result.get("error"):
        lines.append(f"error      {result['error']['type']}: {result['error']['message']}")
    names = [a["name"] for a in result.get("artifacts") or []]
    if names:
        where = f"written to {artifacts_dir}" if artifacts_dir else "use --artifacts DIR to write them"
        lines.append(f"artifacts  {', '.join(names)} ({where})")
    return "\n".join(lines)


@app.command()
def train(
    name: Annotated[str, typer.Argument(metavar="TRAINER", help="trainer name, e.g. neuroplan")],
    instances: Annotated[
        list[str] | None,
        typer.Option(
            "--instance",
            "-i",
            help="a training instance: builtin:NAME, generate:seed=N,nodes=N,... or an instance file (JSON/YAML)",
        ),
    ] = None,
    options: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="trainer option KEY=VALUE (VALUE as JSON, else text)")
    ] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="wall seconds for the whole training")] = 3600.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the training")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="checkpoint file (default: out/TRAINER.pt)")] = None,
    artifacts: Annotated[Path | None, typer.Option("--artifacts", help="write the other artifacts here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly the result document")] = False,
) -> None:
    """Train a learned proposer here, with no server, as the training job a worker would run
    (submit the same spec with `designsvc submit` to run it on the gpu queue). A progress bar
    on stderr; the checkpoint goes to --out; the result document's summary on stdout."""
    from designsvc.core.plugins import TRAINERS
    from designsvc.progress import TrainProgress
    from designsvc.services.validation import resolve_training

    try:
        trainer_cls = TRAINERS.load(name)
    except UnknownNameError as exc:
        _fail(str(exc))
    if not instances:
        _fail("give at least one --instance (builtin:NAME, generate:..., or an instance file)")
    items: list[Any] = [ref if ":" in ref and not Path(ref).is_file() else load_document(ref) for ref in instances]
    parsed = _key_values(options)
    document: JsonDict = {
        "train": {"name": name, "options": parsed},
        "problem": trainer_cls.problem,
        "instances": items,
        "limits": {"time_limit_s": time_limit, "seed": seed},
        "tags": ["cli"],
    }
    try:
        with captured_native_output() as terminal:
            job = resolve_training(document)
            with TrainProgress(stream=terminal, enabled=terminal.isatty()) as bar:
                output = _run_interruptible(job, bar.on_event, terminal)
    except SpecError as exc:
        _spec_error(exc)
    result = output.result
    target = out or Path("out") / f"{name}.pt"
    for artifact in output.artifacts:
        if result.get("checkpoint", {}).get("artifact") == artifact.name:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.data)
        elif artifacts is not None:
            artifacts.mkdir(parents=True, exist_ok=True)
            (artifacts / artifact.name).write_bytes(artifact.data)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(_training_summary(result, target))
    if result["status"] != "succeeded":
        raise typer.Exit(1)


def _training_summary(result: JsonDict, target: Path) -> str:
    if result["status"] == "failed":
        error = result.get("error") or {}
        return f"training failed: {error.get('type')}: {error.get('message')}"
    metrics = result.get("metrics", {})
    lines = [
        f"training {result['status']}: {metrics.get('iterations')} iterations, {metrics.get('steps')} steps, "
        f"{_fmt(metrics.get('train_s'), 3)} s on {metrics.get('device')}",
        f"checkpoint {target} sha256 {result['checkpoint']['sha256']}",
    ]
    if isinstance(metrics.get("summary"), str):  # a trainer's own one-line summary (czp)
        lines.append(metrics["summary"])
        return "\n".join(lines)
    lines.append("greedy policy per instance (return before -> after, added cost before -> after, feasible after):")
    for first, last in zip(metrics.get("before", []), metrics.get("after", []), strict=False):
        lines.append(
            f"  {first['instance']}: {_fmt(first['return'], 4)} -> {_fmt(last['return'], 4)}, "
            f"{_fmt(first['cost'])} -> {_fmt(last['cost'])}, {last['feasible']}"
        )
    return "\n".join(lines)


@app.command()
def validate(
    spec_path: Annotated[str, typer.Argument(metavar="SPEC", help="spec file (JSON or YAML), '-' for stdin")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a spec and build its model, without solving; print the model's size."""
    from designsvc.services.validation import validate_spec

    document = load_document(spec_path)
    try:
        with captured_native_output():
            report = validate_spec(document)
    except SpecError as exc:
        _spec_error(exc)
    size = report["model"]
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(
            f"valid: {report['problem']}, solver {report['solver']}; model with {size['variables']} variables "
            f"({size['integer_variables']} integer) and {size['constraints']} constraints"
        )


@app.command()
def example(kind: Annotated[str, typer.Argument(help="problem kind, e.g. assignment@1")]) -> None:
    """Print a ready-to-run spec for a problem kind."""
    from designsvc.core.plugins import PROBLEMS, resolve_problem_id

    try:
        problem_cls = PROBLEMS.load(resolve_problem_id(kind))
    except UnknownNameError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(problem_cls.example_spec(), indent=2))


_FORMAT_OF_SUFFIX = {
    ".graphml": "graphml",
    ".xml": "graphml",
    ".txt": "sndlib",
    ".sndlib": "sndlib",
    ".xlsx": "neuroplan",
    ".csv": "csv",
    ".json": "json",
}


@app.command("import-topology")
def import_topology(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="the file to import")],
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="graphml | sndlib | neuroplan (default: from the file's extension)"),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of what the file lacks (traffic)")] = 0,
    problem: Annotated[str, typer.Option("--problem", help="problem kind")] = "network-planning",
    max_demands: Annotated[
        int | None, typer.Option("--max-demands", min=1, help="keep at most N demands (the importer says which)")
    ] = None,
    max_scenarios: Annotated[
        int | None, typer.Option("--max-scenarios", min=0, help="keep at most N failure scenarios")
    ] = None,
) -> None:
    """Import a network topology into a ready-to-run spec, printed on stdout (> SPEC).

    Formats: graphml (Internet Topology Zoo), sndlib (SNDlib native text), neuroplan
    (NeuroPlan .xlsx workbook). --max-demands and --max-scenarios keep big networks within
    the model's size limit. (`designsvc import FILE --problem KIND` is the same for any
    problem kind.)"""
    _import_file(path, file_format, seed, problem, {"max_demands": max_demands, "max_scenarios": max_scenarios})


@app.command("import")
def import_any(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="the file to import")],
    problem: Annotated[str, typer.Option("--problem", help="problem kind, e.g. table-sharding")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="one of the kind's importers (default: from the file's extension)")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of what the file lacks")] = 0,
) -> None:
    """Import a file of a problem kind's own format into a ready-to-run spec, printed on
    stdout (> SPEC): table statistics (.csv, .json) for table-sharding, topologies
    (.graphml, .txt SNDlib, .xlsx NeuroPlan) for network-planning. Edit what the file does
    not say (devices, for example) in the spec."""
    _import_file(path, file_format, seed, problem, {})


def _import_file(path: Path, file_format: str | None, seed: int, problem: str, caps: dict[str, int | None]) -> None:
    from designsvc.core.plugins import PROBLEMS, resolve_problem_id

    try:
        problem_id = resolve_problem_id(problem)
        problem_cls = PROBLEMS.load(problem_id)
    except UnknownNameError as exc:
        _fail(str(exc))
    fmt = file_format or _FORMAT_OF_SUFFIX.get(path.suffix.lower())
    importers = problem_cls.importers()
    if fmt is None:
        _fail(f"cannot tell the format of {path} from its extension; give --format ({', '.join(sorted(importers))})")
    if fmt not in importers:
        _fail(f"{problem_id} cannot import the format {fmt!r}; it imports: {', '.join(sorted(importers)) or 'none'}")
    if not path.is_file():
        _fail(f"cannot read {path}: no such file")
    try:
        data = importers[fmt](path, seed, **{k: v for k, v in caps.items() if v is not None})
        problem_cls.parse_instance(data)
    except SpecError as exc:
        _spec_error(exc.prefixed("/instance"))
    except (ValueError, OSError) as exc:
        # Importers name the file themselves ("net.txt: line 3: ..."): say it once, in full.
        _fail(f"{path}: {str(exc).removeprefix(f'{path.name}: ')}")
    spec = {k: v for k, v in problem_cls.example_spec().items() if k not in ("instance", "instance_ref")}
    spec["instance"] = data
    spec["tags"] = sorted({*spec.get("tags", []), f"imported:{path.stem}"} - {"example"})
    typer.echo(json.dumps(spec, indent=2))


@app.command()
def chat(
    problem: Annotated[str | None, typer.Option("--problem", help="problem kind, if you know it")] = None,
    model: Annotated[str | None, typer.Option("--model", help="local model directory (default SmolLM2-135M)")] = None,
    backend: Annotated[str, typer.Option("--backend", help="agent backend (registry name)")] = "local",
    out: Annotated[Path | None, typer.Option("--out", help="write the confirmed spec to this file")] = None,
    submit_to: Annotated[
        str | None, typer.Option("--submit-to", help="submit the confirmed spec to this server (else solve here)")
    ] = None,
) -> None:
    """Talk to the spec-writing agent; it streams its reply, asks for what is missing, and on
    your explicit y at the prompt submits the spec (solves it here, or at --submit-to).
    An empty line or EOF ends the chat."""
    from designsvc.agent.turn import TURN_TAG, resolve_agent_turn, run_agent_turn

    options: JsonDict = {"model": model} if model else {}
    messages: list[JsonDict] = []
    kind: str | None = problem
    draft: JsonDict = {}
    while True:
        try:
            line = input("you> ")
        except EOFError:
            break
        if not line.strip():
            break
        messages.append({"role": "user", "content": line})
        turn = {
            "agent_turn": {
                "session_id": "cli",
                "messages": messages,
                "problem": kind,
                "draft": draft,
                "backend": {"name": backend, "options": options},
            },
            "tags": [TURN_TAG],
        }
        try:
            job = resolve_agent_turn(turn)
        except SpecError as exc:
            _spec_error(exc)

        def show(event: JsonDict) -> None:
            if event.get("type") == "token":
                stream = sys.stdout if event.get("channel") == "reply" else sys.stderr
                stream.write(str(event["text"]))
                stream.flush()

        typer.echo("agent> ", nl=False)
        result = run_agent_turn(job, on_event=show)
        typer.echo("")
        if result["status"] != "succeeded":
            error = result.get("error") or {}
            _fail(f"{error.get('type', 'error')}: {error.get('message', result['status'])}")
        messages.append({"role": "assistant", "content": result["reply"]})
        kind, draft = result["problem"], result["draft"]
        if not result["ready"]:
            continue
        answer = input("Submit this spec? [y/N] ").strip().lower()
        if answer not in {"y", "yes"}:
            continue
        spec = result["spec"]
        if out is not None:
            out.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
            typer.echo(f"spec written to {out}", err=True)
        if submit_to is not None:
            with _remote(submit_to) as client:
                typer.echo(f"submitted  {client.submit(spec)['id']}")
        else:
            from designsvc.services.pipeline import run_job

            try:
                typer.echo(summarize(run_job(spec).result))
            except SpecError as exc:
                _spec_error(exc)
        break


@app.command()
def problems(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the registered problem kinds."""
    from designsvc.core.plugins import PROBLEMS

    rows = []
    for name in PROBLEMS.names():
        try:
            cls = PROBLEMS.load(name)
            rows.append({"id": name, "title": cls.title, "builtin_instances": sorted(cls.builtin_instances())})
        except DesignsvcError as exc:
            rows.append({"id": name, "title": "", "error": str(exc), "builtin_instances": []})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['id']:<24} {row.get('title') or row.get('error')}")


@app.command()
def solvers(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the registered solvers: version, availability (and why not), capabilities."""
    from designsvc.core.plugins import SOLVERS

    rows: list[dict[str, Any]] = []
    with captured_native_output():
        for name in SOLVERS.names():
            try:
                cls = SOLVERS.load(name)
            except DesignsvcError as exc:
                rows.append(
                    {"name": name, "available": False, "reason": str(exc), "version": None, "capabilities": None}
                )
                continue
            availability = cls.availability()
            rows.append(
                {
                    "name": name,
                    "version": cls.version() if availability.available else None,
                    "available": availability.available,
                    "reason": availability.reason or None,
                    "capabilities": cls.capabilities.to_json(),
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        if row["available"]:
            caps = row["capabilities"] or {}
            flags = ", ".join(k for k, v in caps.items() if v is True)
            typer.echo(f"{row['name']:<8} {row['version']:<24} available   {flags}")
        else:
            typer.echo(f"{row['name']:<8} {'-':<24} unavailable {row['reason']}")


# -- the service: serve and worker -----------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port", min=1, max=65535)] = 8000,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            envvar="DESIGNSVC_REDIS_URL",
            help="distributed mode: Redis store, jobs sent to Celery workers on this Redis (redis://HOST:PORT/DB)",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="embedded mode: processes of the local pool (default: one per CPU)"),
    ] = None,
) -> None:
    """Run the REST API (embedded by default; with --redis, jobs go to Celery workers).

    Embedded: a SQLite store under $DESIGNSVC_DATA_DIR and a local process pool; open to
    every caller on loopback until an API key exists (`designsvc keys create`), and it
    refuses any other address without one.

    With --redis: the Redis store, and jobs sent to `designsvc worker` processes on that
    Redis; every request needs an API key.
    """
    import uvicorn

    _check_keys_for(host, redis)
    if redis:
        os.environ["DESIGNSVC_REDIS_URL"] = redis
        if workers is not None:
            typer.echo("note: --workers sizes the embedded pool; with --redis, start workers instead", err=True)
    else:
        os.environ.pop("DESIGNSVC_REDIS_URL", None)
    if workers is not None:
        os.environ["DESIGNSVC_WORKERS"] = str(workers)
    uvicorn.run("designsvc.api.app:create_app", factory=True, host=host, port=port, log_level="info")


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _check_keys_for(host: str, redis: str | None) -> None:
    """Refuse an embedded server on a non-loopback address without API keys; tell a
    distributed one's operator when no key exists yet (every request would be 401)."""
    from designsvc.runtime import ServiceSettings, build_store
    from designsvc.services.keys import has_active_keys

    if not redis and host in _LOOPBACK:
        return
    settings = ServiceSettings.from_env()
    if redis:
        settings = settings.with_changes(redis_url=redis)
    try:
        store = build_store(settings)
    except DesignsvcError as exc:
        _fail(str(exc), 3)
    try:
        configured = has_active_keys(store)
    finally:
        store.close()
    if configured:
        return
    if redis:
        typer.echo("note: no API key exists yet; every request gets 401 until `designsvc keys create`", err=True)
        return
    _fail(
        f"serving on {host} without an API key would open the service to anyone who can reach it: "
        "make one first with `designsvc keys create --tenant NAME --scopes submit,read`"
    )


@app.command()
def worker(
    redis: Annotated[
        str,
        typer.Option("--redis", envvar="DESIGNSVC_REDIS_URL", help="the broker and job store (redis://HOST:PORT/DB)"),
    ],
    queues: Annotated[str, typer.Option("--queues", help="comma-separated queues to consume: cpu, gpu")] = "cpu,gpu",
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="jobs at a time (default: one per CPU; 1 for the gpu queue alone)"),
    ] = None,
) -> None:
    """Run a Celery worker (prefork pool) that executes jobs from the queues."""
    from designsvc.executors.celery import QUEUES

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        _fail(f"--queues: unknown queue(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(QUEUES)}")
    if concurrency is None:
        concurrency = 1 if names == ["gpu"] else (os.cpu_count() or 1)
    os.environ["DESIGNSVC_REDIS_URL"] = redis
    from workers.celery_app import app as celery_app

    celery_app.conf.broker_url = redis
    celery_app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--queues={','.join(names)}",
            f"--concurrency={concurrency}",
            f"--hostname=designsvc-{'-'.join(names)}-{os.getpid()}@%h",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
        ]
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="folder for the example specs, results and artifacts")] = Path(
        "out"
    ),
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="processes of the local pool")] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for all jobs")] = 600.0,
) -> None:
    """The main job, embedded: start the service here (no server to set up), submit every
    problem kind's example spec over REST, wait, and print the results table."""
    from designsvc.core.plugins import PROBLEMS
    from designsvc.localserver import embedded_server

    out.mkdir(parents=True, exist_ok=True)
    specs: dict[str, JsonDict] = {}
    for kind in PROBLEMS.names():
        specs[kind] = PROBLEMS.load(kind).example_spec()
        (out / f"{kind}.spec.json").write_text(json.dumps(specs[kind], indent=2) + "\n")
    with embedded_server(workers=workers) as service, _remote(service.url, api_key=service.api_key) as client:
        client.ready()
        typer.echo(f"embedded service at {service.url}", err=True)
        jobs = {kind: client.submit(spec) for kind, spec in specs.items()}
        for kind, job in jobs.items():
            typer.echo(f"submitted {kind}: job {job['id']}", err=True)
        rows = []
        for kind, job in jobs.items():
            final = client.wait(job["id"], timeout_s=timeout_s, poll_s=0.3)
            result = client.result(job["id"])
            (out / f"{kind}.result.json").write_text(json.dumps(result, indent=2) + "\n")
            for artifact in result.get("artifacts") or []:
                folder = out / kind
                folder.mkdir(exist_ok=True)
                (folder / artifact["name"]).write_bytes(client.artifact(job["id"], artifact["name"]))
            rows.append(_demo_row(kind, final, result))
    typer.echo(_aligned([_DEMO_HEADER, *rows]))
    typer.echo(f"\nspecs, results and artifacts in {out}/")
    if any(row[2] != "succeeded" for row in rows):
        raise typer.Exit(1)


def _demo_row(kind: str, job: JsonDict, result: JsonDict) -> list[str]:
    outcome = result.get("outcome") or {}
    evaluation = result.get("evaluation") or {}
    feasible = [r for r in result.get("comparison") or [] if r["feasible"]]
    best = min(feasible, key=lambda r: r["objective"]) if feasible else None
    gap = result.get("gap")
    return [
        kind,
        job["id"],
        job["status"],
        f"{outcome.get('termination', '-')}/{outcome.get('solution_status', '-')}",
        _fmt(evaluation.get("objective")),
        "yes" if evaluation.get("feasible") else "no",
        "-" if gap is None else f"{100 * gap:.2g}%",
        "-" if best is None else f"{best['baseline']} {_fmt(best['objective'])}",
        "-" if best is None or best["improvement"] is None else f"{100 * best['improvement']:+.1f}%",
        f"{(result.get('timings') or {}).get('total_s', 0.0):.2f}",
    ]


_DEMO_HEADER = [
    "problem",
    "job",
    "status",
    "outcome",
    "objective",
    "feasible",
    "gap",
    "best baseline",
    "vs best",
    "time s",
]


def _aligned(rows: list[list[str]]) -> str:
    """Rows of cells as text columns, left-aligned, two spaces apart."""
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() for row in rows)


# -- remote commands, through the Client -------------------------------------------------------

DEFAULT_URL = "http://127.0.0.1:8000"
"""The server remote commands talk to without --url or $DESIGNSVC_URL (= designsvc.client.DEFAULT_URL,
repeated so that local commands do not import httpx)."""
UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="DESIGNSVC_URL", help="the designsvc server", show_default=True),
]


@contextlib.contextmanager
def _remote(url: str, *, api_key: str | None = None) -> Iterator[Client]:
    """A client of ``url`` (with ``api_key``, else ``$DESIGNSVC_API_KEY``); its errors become
    the CLI's messages and exit codes."""
    from designsvc.client import Client, ClientError, ServerUnreachableError

    client = Client(url, api_key=api_key or os.environ.get("DESIGNSVC_API_KEY") or None)
    try:
        yield client
    except ServerUnreachableError as exc:
        _fail(f"{exc} (is `designsvc serve` running there? set --url or DESIGNSVC_URL)", 3)
    except ClientError as exc:
        if exc.status >= 500:
            _fail(f"the server at {url} failed: {exc.status} {exc.title}: {exc.detail}", 3)
        if exc.status == 409:
            _fail(exc.detail, 1)
        for line in exc.lines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    except TimeoutError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:
        typer.echo("interrupted (the job goes on; `designsvc cancel ID` stops it)", err=True)
        raise typer.Exit(130) from None
    finally:
        client.close()


def _job_line(job: JsonDict) -> str:
    line = f"job        {job['id']}  {job.get('problem', '')}  {job['status']}"
    if job.get("attempts"):
        line += f"  (attempt {job['attempts']})"
    return line


@app.command()
def submit(
    spec_path: Annotated[str, typer.Argument(metavar="SPEC", help="spec file (JSON or YAML), '-' for stdin")],
    wait: Annotated[bool, typer.Option("--wait", help="wait for the job to end and print its result")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Submit a spec to the server; print the job id (with --wait, the result summary)."""
    document = load_document(spec_path)
    with _remote(url) as client:
        job = client.submit(document)
        if not wait:
            typer.echo(job["id"])
            return
        typer.echo(f"submitted  {job['id']}; waiting", err=True)
        final = client.wait(job["id"])
        result = client.result(job["id"])
    typer.echo(summarize(result))
    if final["status"] != "succeeded":
        raise typer.Exit(1)


@app.command()
def status(job_id: Annotated[str, typer.Argument(metavar="ID", help="job id")], url: UrlOption = DEFAULT_URL) -> None:
    """Print a job's status."""
    with _remote(url) as client:
        job = client.get(job_id)
    lines = [_job_line(job)]
    for key in ("created_at", "started_at", "finished_at"):
        if job.get(key):
            lines.append(f"{key.removesuffix('_at'):<10} {job[key]}")
    if job.get("cancel_requested") and job["status"] != "canceled":
        lines.append("cancel     requested")
    if job.get("error"):
        lines.append(f"error      {job['error'].get('type')}: {job['error'].get('message')}")
    typer.echo("\n".join(lines))


@app.command()
def result(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="job id")],
    url: UrlOption = DEFAULT_URL,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly the result document")] = False,
) -> None:
    """Print a finished job's result (exit 1 if it did not succeed, or has not finished)."""
    with _remote(url) as client:
        document = client.result(job_id)
    typer.echo(json.dumps(document, indent=2) if as_json else summarize(document))
    if document.get("status") != "succeeded":
        raise typer.Exit(1)


@app.command()
def cancel(job_id: Annotated[str, typer.Argument(metavar="ID", help="job id")], url: UrlOption = DEFAULT_URL) -> None:
    """Ask a job to stop; a running solver keeps its best design so far."""
    with _remote(url) as client:
        job = client.cancel(job_id)
    typer.echo(_job_line(job))


@app.command()
def batch(
    batch_path: Annotated[str, typer.Argument(metavar="FILE", help="batch request (JSON or YAML), '-' for stdin")],
    wait: Annotated[bool, typer.Option("--wait", help="wait for every job and print the aggregate table")] = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Submit a batch (scenarios x option grid x repetitions); print its id.

    With --wait: wait until every job has ended and print the aggregate table.
    """
    document = load_document(batch_path)
    with _remote(url) as client:
        created = client.submit_batch(document)
        if not wait:
            typer.echo(created["id"])
            return
        typer.echo(
            f"submitted  batch {created['id']} with {len(created.get('job_ids') or [])} job(s); waiting", err=True
        )
        summary = client.wait_batch(created["id"])
        table = client.batch_csv(created["id"])
    typer.echo(f"batch      {summary['id']}  {summary['finished']}/{summary['jobs']} finished  {_counts(summary)}")
    typer.echo(_aligned_csv(table))
    if summary.get("counters", {}).get("succeeded", 0) != summary.get("jobs"):
        raise typer.Exit(1)


def _counts(summary: JsonDict) -> str:
    return ", ".join(f"{k} {v}" for k, v in (summary.get("counters") or {}).items() if v)


def _aligned_csv(text: str) -> str:
    """A CSV table with its columns aligned (numbers shortened)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return ""

    def cell(value: str) -> str:
        try:
            number = float(value)
        except ValueError:
            return value
        return value if number.is_integer() and "." not in value else _fmt(number)

    return _aligned([rows[0], *[[cell(v) for v in row] for row in rows[1:]]])


app.add_typer(keys_app, name="keys")

calibrate_app = typer.Typer(
    name="calibrate",
    help="Calibrate a problem kind's cost model on this machine's real kernels.",
    no_args_is_help=True,
)
app.add_typer(calibrate_app, name="calibrate")

_CALIBRATION_TRAINER = "sharding-calibration"
_DEFAULT_CALIBRATION_INSTANCES = (
    "generate:seed=1,tables=20,devices=4",
    "generate:seed=2,tables=20,devices=4",
    "generate:seed=3,tables=20,devices=4",
)


def _key_values(items: list[str] | None) -> JsonDict:
    """``KEY=VALUE`` options, VALUE as JSON when it parses, else text."""
    parsed: JsonDict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            _fail(f"--option {item!r}: expected KEY=VALUE")
        try:
            parsed[key] = json.loads(text)
        except json.JSONDecodeError:
            parsed[key] = text
    return parsed


@calibrate_app.command("sharding")
def calibrate_sharding(
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto (CUDA when present)")] = "auto",
    samples: Annotated[int, typer.Option("--samples", min=8, help="table combinations to measure")] = 200,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the draws, index sets and fit")] = 0,
    time_limit: Annotated[float, typer.Option("--time-limit", help="wall seconds for measuring and fitting")] = 1800.0,
    instances: Annotated[
        list[str] | None,
        typer.Option(
            "--instance",
            "-i",
            help="instances whose tables are drawn (builtin:NAME, generate:seed=N,tables=N,... or a file); "
            "default: three generated 20-table instances",
        ),
    ] = None,
    options: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="other trainer option KEY=VALUE (batch, repeats, max_tables, row_cap...)"),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="the calibration file")] = Path("out/sharding-calibration.json"),
    artifacts: Annotated[Path | None, typer.Option("--artifacts", help="write the scatter plot here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print exactly the result document")] = False,
) -> None:
    """Time real torch EmbeddingBag forward/backward passes of random combinations of tables
    on this machine and fit the neural cost model of table-sharding to them: the
    `sharding-calibration` training job run here (submit it to a GPU worker to calibrate
    CUDA). Put the file in a folder named by $DESIGNSVC_CALIBRATIONS and set the instance's
    "calibration" to the file's stem to use it."""
    from designsvc.core.plugins import TRAINERS
    from designsvc.progress import TrainProgress
    from designsvc.services.validation import resolve_training

    try:
        trainer_cls = TRAINERS.load(_CALIBRATION_TRAINER)
    except UnknownNameError as exc:
        _fail(str(exc))
    refs = instances or list(_DEFAULT_CALIBRATION_INSTANCES)
    items: list[Any] = [ref if ":" in ref and not Path(ref).is_file() else load_document(ref) for ref in refs]
    document: JsonDict = {
        "train": {
            "name": _CALIBRATION_TRAINER,
            "options": {**_key_values(options), "device": device, "samples": samples},
        },
        "problem": trainer_cls.problem,
        "instances": items,
        "limits": {"time_limit_s": time_limit, "seed": seed},
        "tags": ["cli", "calibration"],
    }
    try:
        with captured_native_output() as terminal:
            job = resolve_training(document)
            with TrainProgress(samples, stream=terminal, enabled=terminal.isatty()) as bar:
                output = _run_interruptible(job, bar.on_event, terminal)
    except SpecError as exc:
        _spec_error(exc)
    result = output.result
    for artifact in output.artifacts:
        if result.get("checkpoint", {}).get("artifact") == artifact.name:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(artifact.data)
        elif artifacts is not None:
            artifacts.mkdir(parents=True, exist_ok=True)
            (artifacts / artifact.name).write_bytes(artifact.data)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    elif result["status"] == "failed":
        error = result.get("error") or {}
        typer.echo(f"calibration failed: {error.get('type')}: {error.get('message')}")
    else:
        metrics = result.get("metrics", {})
        held = metrics.get("validation") or {}
        typer.echo(
            f"calibration {result['status']}: {metrics.get('measurements')} measurements on {metrics.get('device')} "
            f"({metrics.get('device_name')}), {_fmt(metrics.get('train_s'), 3)} s"
        )
        typer.echo(
            f"held out   {held.get('count')} sets: MAE {_fmt(held.get('mae_ms'), 3)} ms, mean relative error "
            f"{_fmt(held.get('mean_rel_error'), 3)}, median {_fmt(held.get('median_rel_error'), 3)}, "
            f"Spearman {_fmt(held.get('spearman'), 3)}"
        )
        typer.echo(f"file       {out} sha256 {result['checkpoint']['sha256']}")
    if result["status"] != "succeeded":
        raise typer.Exit(1)


@app.command()
def measure(
    spec_path: Annotated[str, typer.Argument(metavar="SPEC", help="spec file of a table-sharding instance")],
    design_path: Annotated[
        str, typer.Option("--design", help="a result document (its design) or a design {'assign': {...}} (JSON/YAML)")
    ],
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto")] = "cpu",
    options: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="measurement option KEY=VALUE (batch, repeats, warmup, row_cap, seed)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the measurement as JSON")] = False,
) -> None:
    """Run a table-sharding plan's lookups for real, device by device (torch EmbeddingBag
    forward, backward and sparse update in a worker process, one device at a time), and
    print each device's measured ms next to the cost model's ms. Reached through the
    `sharding-calibration` trainer's `measure` (the CLI imports no plug-in directly)."""
    from designsvc.core.plugins import TRAINERS
    from designsvc.services.validation import resolve_spec

    document = load_document(spec_path)
    loaded = load_document(design_path)
    design = loaded.get("design") if isinstance(loaded, dict) and "assign" not in loaded else loaded
    if not isinstance(design, dict) or not isinstance(design.get("assign"), dict):
        _fail(f"{design_path} holds no design of the form {{'assign': {{table: device}}}}")
    try:
        job = resolve_spec(document)
    except SpecError as exc:
        _spec_error(exc)
    trainer_cls = TRAINERS.load(_CALIBRATION_TRAINER)
    if job.problem_id != trainer_cls.problem:
        _fail(f"measure works on {trainer_cls.problem} plans, not {job.problem_id}")
    measure_plan = getattr(trainer_cls, "measure", None)
    if measure_plan is None:
        _fail(f"trainer {_CALIBRATION_TRAINER} has no measure entry point")
    try:
        report: JsonDict = measure_plan(job.problem, design, {**_key_values(options), "device": device})
    except ValueError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(
        f"measured on {report['device']} ({report['device_name']}) at batch {report['measure_batch']}, "
        f"scaled to {report['batch_size']}"
    )
    rows = [["device", "tables", "measured ms", "model ms"]]
    rows += [
        [str(r["device"]), str(r["tables"]), _fmt(r["measured_ms"], 4), _fmt(r["model_ms"], 4)]
        for r in report["devices"]
    ]
    rows.append(["max", "", _fmt(report["measured_max_ms"], 4), _fmt(report["model_max_ms"], 4)])
    typer.echo(_aligned(rows))
    typer.echo(f"Spearman rank correlation over devices: {_fmt(report['spearman'], 3)}")


def main() -> None:
    """Entry point of the ``designsvc`` script."""
    app()


if __name__ == "__main__":
    main()
