"""Real timings of embedding-table workloads: one device's tables as ``torch.nn.EmbeddingBag``
modules, run forward, backward and a sparse SGD update, timed on the CPU or a CUDA device.

What one measurement does (:func:`measure_tables`), for the tables of one device:

1. Per table, an ``EmbeddingBag(rows_eff, dim, mode="sum", sparse=True)`` (fp32; see the
   caps below), its rows initialized N(0, 0.01).
2. Per table and repeat, a batch of ``batch`` samples (bags): each sample's number of
   lookups is Poisson(``pooling_factor``) (so its mean is the pooling factor; a bag may be
   empty), the looked-up rows drawn from a Zipf law of exponent ``zipf_alpha`` over the
   ``rows_eff`` rows (row of popularity rank ``i`` with probability proportional to
   ``i**-alpha``), ranks mapped to row ids through a fixed random permutation (hot rows are
   scattered over the table as hashing scatters them, not packed at its start, which would
   flatter the caches). Index draws are seeded (``numpy.random.default_rng(seed)``) and made
   once before timing; a few index sets are cycled through the repeats.
3. One timed iteration: every table's forward pass in sequence (as an un-fused
   per-table loop runs them), one backward pass through all outputs (the upstream gradient
   a fixed random tensor), and an SGD step on the sparse gradients (``torch.optim.SGD``
   with ``sparse=True`` tables: only the looked-up rows are written, as production
   embedding optimizers do; a dense update would cost ``rows * dim`` per step and measure
   the table size instead of the lookups). Gradients are reset to None between iterations.
4. ``warmup`` untimed iterations, then ``repeats`` timed ones (``time.perf_counter``; on
   CUDA ``torch.cuda.synchronize`` before starting and before stopping each timer); the
   result is the median in milliseconds. The CPU runs with ``torch.set_num_threads(1)``
   (one core per device, so measurements of different devices do not fight over cores).

**Caps and scaling** (real tables can be GBs, the measuring machine may have a few GB):

- ``rows_eff = min(rows, row_cap)`` (default 100,000 rows). Past the last-level cache
  (100,000 rows of 16 fp32 values are 6.4 MB, of 128 values 51 MB) a random row gather
  costs about the same whatever the table's size, so the lookup cost depends on the rows
  mostly through the cache hit rate, which the Zipf skew and ``rows_eff`` still set. The
  cap is stored in the calibration and applied the same way when the model predicts, so
  the model is consistent with what was measured; what it cannot see is the difference
  between a 10**5-row and a 10**8-row table on a GPU whose cache holds the former.
- ``memory_budget_gb`` (default 1.5): the capped tables of one measurement must fit
  (weights plus sparse-gradient buffers are bounded by twice the weights); a larger
  workload is refused with a ValueError naming the cap to lower.
- ``batch`` (default 2048) samples per measured iteration instead of the instance's
  ``batch_size`` (65,536 by default). Lookup, pooling, backward and update work all grow
  linearly with the number of samples, so times are scaled by ``batch_size / batch``
  (:func:`scale_to_batch`). This over-counts the per-iteration fixed costs (operator
  dispatch, allocation) by the same factor; at a measure batch of a few thousand samples
  they are a small share of the time, except for tables with a pooling factor below 1.
- ``bytes_per_element`` is not emulated: every table is measured in fp32 (fp16 and int8
  embedding training need fused kernels, e.g. FBGEMM, that plain torch does not have on
  the CPU); the calibration records the value as a feature.

:func:`measure_plan` measures each device of a plan in turn in one worker process (spawned,
so its torch threads and memory are its own; one device at a time, so devices do not
contend on a small machine), and reports per-device ms and their maximum (the plan's
latency: the slowest device sets the iteration time of synchronous training).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "MeasureConfig",
    "TableSpec",
    "effective_rows",
    "measure_plan",
    "measure_tables",
    "scale_to_batch",
    "select_device_name",
]

_INDEX_SETS = 3
"""Distinct index draws per table, cycled through the warm-up and timed iterations."""


@dataclass(frozen=True)
class TableSpec:
    """The statistics of one table that a measurement uses (units as in the
    ``table-sharding@1`` schema)."""

    rows: int
    dim: int
    pooling_factor: float
    zipf_alpha: float = 0.0
    bytes_per_element: int = 4

    @classmethod
    def from_mapping(cls, data: Any) -> TableSpec:
        """From a table of an instance (a dict or any object with those attributes)."""

        def get(key: str, default: Any = None) -> Any:
            return data.get(key, default) if isinstance(data, Mapping) else getattr(data, key, default)

        return cls(
            rows=int(get("rows")),
            dim=int(get("dim")),
            pooling_factor=float(get("pooling_factor")),
            zipf_alpha=float(get("zipf_alpha", 0.0) or 0.0),
            bytes_per_element=int(get("bytes_per_element", 4) or 4),
        )


@dataclass(frozen=True)
class MeasureConfig:
    """How to measure (see the module docstring): ``device`` ``cpu`` or ``cuda``;
    ``batch`` samples per measured iteration; ``row_cap``; ``memory_budget_gb`` per
    measurement; ``warmup`` and ``repeats`` iterations; ``statistic`` of the repeats'
    times (``median``, or ``min``: the least time is the least disturbed by other processes
    on a shared machine, so it ranks workloads more stably there); ``learning_rate`` of the
    SGD update; ``seed`` of the index draws; ``threads`` (torch CPU threads)."""

    device: str = "cpu"
    batch: int = 2048
    row_cap: int = 100_000
    memory_budget_gb: float = 1.5
    warmup: int = 2
    repeats: int = 5
    statistic: str = "median"
    learning_rate: float = 0.01
    seed: int = 0
    threads: int = 1

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def select_device_name(wanted: str) -> str:
    """``auto``: ``cuda`` when torch sees a CUDA device, else ``cpu``; ``cuda`` without
    one is a ValueError."""
    from surrogates.devices import select_device

    return str(select_device(wanted).type)


def effective_rows(rows: int, row_cap: int) -> int:
    """``min(rows, row_cap)``: the rows a measurement allocates."""
    return max(1, min(int(rows), int(row_cap)))


def scale_to_batch(ms_at_measure_batch: float, measure_batch: int, batch_size: int) -> float:
    """Linear scaling of a measured time to another batch size (see the module docstring)."""
    return ms_at_measure_batch * batch_size / measure_batch


def _zipf_indices(rng: np.random.Generator, rows: int, alpha: float, count: int) -> np.ndarray[Any, Any]:
    """``count`` row ids in ``[0, rows)``: Zipf(alpha) ranks through a random permutation."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if alpha == 0.0:
        ranks = rng.integers(0, rows, size=count)
    else:
        weights = np.arange(1, rows + 1, dtype=np.float64) ** -alpha
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        ranks = np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), rows - 1)
    permutation = rng.permutation(rows)
    return np.asarray(permutation[ranks], dtype=np.int64)


def measure_tables(tables: Sequence[TableSpec], config: MeasureConfig) -> float:
    """The median (or ``config.statistic``) ms of one iteration (forward, backward, sparse
    SGD update) of ``tables``
    on one device at ``config.batch`` samples; 0.0 for no tables. See the module docstring.

    Raises ValueError when the capped tables exceed ``config.memory_budget_gb``."""
    if not tables:
        return 0.0
    if config.statistic not in ("median", "min"):
        raise ValueError(f"statistic must be median or min, got {config.statistic!r}")
    import torch

    rows = [effective_rows(t.rows, config.row_cap) for t in tables]
    need_gb = sum(r * t.dim * 4 for r, t in zip(rows, tables, strict=True)) / 1e9
    if need_gb > config.memory_budget_gb:
        raise ValueError(
            f"the {len(tables)} tables need {need_gb:.3g} GB at row_cap {config.row_cap}, over the memory budget "
            f"of {config.memory_budget_gb:g} GB; lower row_cap or raise memory_budget_gb"
        )
    device = torch.device(config.device)
    cuda = device.type == "cuda"
    if not cuda:
        torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    modules: list[torch.nn.EmbeddingBag] = []
    inputs: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    for table, n_rows in zip(tables, rows, strict=True):
        bag = torch.nn.EmbeddingBag(n_rows, table.dim, mode="sum", sparse=True)
        with torch.no_grad():
            bag.weight.copy_(torch.randn(n_rows, table.dim, generator=generator) * 0.01)
        modules.append(bag.to(device))
        sets: list[tuple[torch.Tensor, torch.Tensor]] = []
        for _ in range(_INDEX_SETS):
            lengths = rng.poisson(table.pooling_factor, size=config.batch)
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            indices = _zipf_indices(rng, n_rows, table.zipf_alpha, int(lengths.sum()))
            sets.append((torch.from_numpy(indices).to(device), torch.from_numpy(offsets).to(device)))
        inputs.append(sets)
    upstream = [torch.randn(config.batch, t.dim, generator=generator).to(device) for t in tables]
    optimizer = torch.optim.SGD([m.weight for m in modules], lr=config.learning_rate)

    def iteration(k: int) -> None:
        outputs = [m(*inputs[j][k % _INDEX_SETS]) for j, m in enumerate(modules)]
        torch.autograd.backward(outputs, upstream)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for k in range(config.warmup):
        iteration(k)
    times: list[float] = []
    for k in range(config.repeats):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        iteration(config.warmup + k)
        if cuda:
            torch.cuda.synchronize(device)
        times.append(1e3 * (time.perf_counter() - start))
    return float(min(times) if config.statistic == "min" else statistics.median(times))


def _measure_one(tables: list[dict[str, Any]], config: dict[str, Any]) -> float:
    """Worker-process entry point (plain data in and out)."""
    return measure_tables([TableSpec(**t) for t in tables], MeasureConfig(**config))


def measure_plan(
    device_tables: Sequence[Sequence[TableSpec]],
    config: MeasureConfig,
    *,
    batch_size: int | None = None,
    in_process: bool = False,
) -> dict[str, Any]:
    """Measure each device's tables, one device at a time, in one spawned worker process
    (``in_process=True`` measures here instead).

    Returns ``{"device_ms": [...], "max_ms": ..., "measure_batch": ..., "batch_size": ...}``
    with times scaled to ``batch_size`` (default: the measure batch, no scaling); a device
    with no tables takes 0 ms."""
    target = batch_size or config.batch
    plain = config.as_json()
    jobs = [[asdict(t) for t in tables] for tables in device_tables]
    raw: list[float] = []
    if in_process:
        raw = [_measure_one(job, plain) for job in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for job in jobs:  # one at a time: devices never run together
                raw.append(pool.submit(_measure_one, job, plain).result() if job else 0.0)
    scaled = [scale_to_batch(ms, config.batch, target) for ms in raw]
    return {
        "device_ms": scaled,
        "max_ms": max(scaled, default=0.0),
        "measured_ms_at_measure_batch": raw,
        "measure_batch": config.batch,
        "batch_size": target,
        "config": plain,
        "finite": all(math.isfinite(v) for v in scaled),
    }
