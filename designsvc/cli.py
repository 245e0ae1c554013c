"""The ``designsvc`` command line.

Exit codes: 0 done; 1 the job ran and failed (or was canceled); 2 bad input (a spec error,
an unknown name, an unreadable file), with a one-line message on stderr naming the field as a
JSON pointer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from designsvc.core.errors import DesignsvcError, SpecError, UnknownNameError
from designsvc.core.types import JsonDict
from designsvc.nativeio import captured_native_output

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
    from designsvc.services.pipeline import run_resolved
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
                output = run_resolved(job, on_event=bar.on_event)
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
        lines.append(f"proposer   {p['name']}: {p['asked']} round(s)")
    for row in result.get("comparison") or []:
        better = "-" if row["improvement"] is None else f"{100 * row['improvement']:+.2f}% better"
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


def main() -> None:
    """Entry point of the ``designsvc`` script."""
    app()


if __name__ == "__main__":
    main()
