"""Benchmark of the spec-writing agent: field-level accuracy of the specs it writes for the
30 requests in ``bench/agent_requests.jsonl`` (one user message each, one turn).

Each request lists its expected fields; a field not listed is expected at its default. Seven
fields are scored per request: problem, instance_ref (a generate reference is compared as its
set of parameters), solver, proposer, time_limit_s, seed, compare_baselines. A spec is
*schema-valid* when the service's validation (``resolve_spec``) accepts it, and *exactly
right* when all seven fields match. With ``--given-kind`` the session starts with the
expected problem kind (as a client that knows it would), so only the draft is scored by the
model.

    .venv/bin/python bench/agent.py [--given-kind] [--limit N] [--out out/bench-agent.json]

One torch thread (``--threads``): on this shared 2-core machine more threads were much slower.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# bench/solvers.py would shadow the `solvers` package when this file runs as a script.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from designsvc.agent.turn import resolve_agent_turn, run_agent_turn  # noqa: E402
from designsvc.core.errors import SpecError  # noqa: E402
from designsvc.services.validation import resolve_spec  # noqa: E402

FIELDS = ("problem", "instance_ref", "solver", "proposer", "time_limit_s", "seed", "compare_baselines")
DEFAULTS: dict[str, Any] = {
    "solver": "highs",
    "proposer": None,
    "time_limit_s": None,
    "seed": None,
    "compare_baselines": False,
}


def _ref(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("generate:"):
        pairs = dict(p.split("=") for p in value.removeprefix("generate:").split(","))
        return ("generate", frozenset(pairs.items()))
    return value


def fields_of(spec: dict[str, Any] | None, problem: str | None) -> dict[str, Any]:
    if spec is None:
        return {"problem": problem, "instance_ref": None, **DEFAULTS}
    limits = spec.get("limits", {})
    return {
        "problem": spec["problem"],
        "instance_ref": spec.get("instance_ref"),
        "solver": spec["solver"]["name"],
        "proposer": (spec.get("proposer") or {}).get("name"),
        "time_limit_s": limits.get("time_limit_s"),
        "seed": limits.get("seed"),
        "compare_baselines": spec.get("compare_baselines", False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=Path, default=Path(__file__).with_name("agent_requests.jsonl"))
    parser.add_argument("--given-kind", action="store_true")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("out/bench-agent.json"))
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch loads (with the backend)
    cases = [json.loads(line) for line in args.requests.read_text().splitlines() if line.strip()][: args.limit]
    rows = []
    started = time.perf_counter()
    for k, case in enumerate(cases):
        expected = {**DEFAULTS, **case["expected"]}
        turn = {
            "agent_turn": {
                "session_id": f"bench-{k}",
                "messages": [{"role": "user", "content": case["request"]}],
                "problem": expected["problem"] if args.given_kind else None,
                "backend": {"name": "local", "options": {"model": args.model} if args.model else {}},
            }
        }
        t = time.perf_counter()
        result = run_agent_turn(resolve_agent_turn(turn))
        elapsed = time.perf_counter() - t
        spec = result.get("spec")
        valid, invalid = False, None
        if spec is not None:
            try:
                resolve_spec(spec)
                valid = True
            except SpecError as exc:
                invalid = str(exc)
        got = fields_of(spec, result.get("problem"))
        right = {f: _ref(got[f]) == _ref(expected[f]) for f in FIELDS}
        rows.append(
            {
                "request": case["request"],
                "status": result["status"],
                "error": result.get("error"),
                "spec": spec,
                "valid": valid,
                "invalid": invalid,
                "right": right,
                "exact": all(right.values()),
                "turn_s": elapsed,
            }
        )
        print(
            f"{k + 1:2d} {'ok ' if all(right.values()) else 'BAD'} valid={valid} {elapsed:5.1f}s "
            f"wrong={[f for f in FIELDS if not right[f]]} {case['request'][:60]}",
            flush=True,
        )
    n = len(rows)
    with_spec = [r for r in rows if r["spec"] is not None]
    summary = {
        "requests": n,
        "given_kind": args.given_kind,
        "specs_written": len(with_spec),
        "schema_valid_of_written": sum(r["valid"] for r in with_spec) / max(len(with_spec), 1),
        "exactly_right": sum(r["exact"] for r in rows) / n,
        "field_accuracy": sum(sum(r["right"].values()) for r in rows) / (n * len(FIELDS)),
        "per_field": {f: sum(r["right"][f] for r in rows) / n for f in FIELDS},
        "mean_turn_s": sum(r["turn_s"] for r in rows) / n,
        "total_s": time.perf_counter() - started,
        "machine": f"{platform.machine()} {platform.processor() or ''}, torch threads {args.threads}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
