"""Seeded random ``table-sharding@1`` instances and the built-in named instances.

The numbers are **synthetic draws** shaped like published statistics of the open DLRM
embedding datasets (Meta's ``dlrm_datasets``, ``fbgemm_t856_bs65536``: 856 tables, batch
65,536), as used and described by DreamShard (D. Zha et al., "DreamShard: Generalizable
Embedding Table Placement for Recommender Systems", NeurIPS 2022) and NeuroShard (D. Zha et
al., "Pre-train and Search: Efficient Embedding Table Sharding with Pre-trained Neural Cost
Models", MLSys 2023). That data lives in Git LFS and is not read here; users bring their own
table statistics through :mod:`problems.table_sharding.loaders`. Per table, in this order
of draws from ``numpy.random.default_rng(seed)``:

- ``rows``: log-uniform on [100, 10**7] (hash sizes span five orders of magnitude, the
  DreamShard preprocessing keeps at least 100 rows);
- ``dim``: uniform on {16, 32, 64, 128} (the dimensions of those papers' tasks);
- ``pooling_factor``: log-normal, median 5, log-sd 1.0, clipped to [0.5, 100], two
  decimals (mean lookups per sample are heavy-tailed: most tables a few, some hundreds);
- ``zipf_alpha``: uniform on [0, 1.2], two decimals (from nearly uniform to click-log skew);
- ``bytes_per_element``: 4 (fp32); batch size 65,536.

Memory: ``num_devices`` identical devices of ``memory_gb`` (5 GB by default, DreamShard's
per-GPU memory limit for tables). A table larger than 80 % of a device gets fewer rows.
Feasibility is guaranteed by a certificate: first-fit decreasing (by bytes, in the model's
whole-KB rule) must place every table; while it fails, the largest table's rows are halved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from problems.table_sharding.schema import (
    BYTES_PER_GB,
    DEFAULT_BATCH_SIZE,
    MAX_VARIABLES,
    Table,
    TableShardingInstance,
)

__all__ = ["BUILTIN_INSTANCES", "DEFAULT_DEVICES", "DEFAULT_MEMORY_GB", "DEFAULT_TABLES", "generate"]

DEFAULT_TABLES = 30
DEFAULT_DEVICES = 4
DEFAULT_MEMORY_GB = 5.0
DIMS = (16, 32, 64, 128)
ROWS_RANGE = (100, 10**7)
MAX_TABLE_FRACTION = 0.8
"""No generated table takes more than this share of a device's memory."""


def generate(
    seed: int,
    tables: int = DEFAULT_TABLES,
    devices: int = DEFAULT_DEVICES,
    *,
    memory_gb: float = DEFAULT_MEMORY_GB,
    batch_size: int = DEFAULT_BATCH_SIZE,
    name: str = "",
) -> TableShardingInstance:
    """A feasible instance of ``tables`` tables (named ``t0 .. t{N-1}``) on ``devices``
    devices of ``memory_gb`` GB each (the ``num_devices`` shorthand); see the module
    docstring for the distributions. ``name`` defaults to ``"dlrm-{tables}x{devices}-s{seed}"``.

    Raises ``ValueError`` for sizes below 1, above the schema's limit, a negative seed or a
    memory that cannot hold a small table.
    """
    if tables < 1 or devices < 1:
        raise ValueError(f"tables and devices must be >= 1, got tables={tables}, devices={devices}")
    if tables * devices > MAX_VARIABLES:
        raise ValueError(f"tables x devices = {tables * devices:,} exceeds the limit of {MAX_VARIABLES:,}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not (0.001 <= memory_gb <= 1e6):
        raise ValueError(f"memory_gb must be in [0.001, 1e6], got {memory_gb}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    log_rows = rng.uniform(np.log10(ROWS_RANGE[0]), np.log10(ROWS_RANGE[1]), size=tables)
    rows = np.round(10.0**log_rows).astype(np.int64)
    dims = rng.choice(np.asarray(DIMS, dtype=np.int64), size=tables)
    pooling = np.round(np.clip(rng.lognormal(mean=np.log(5.0), sigma=1.0, size=tables), 0.5, 100.0), 2)
    alpha = np.round(rng.uniform(0.0, 1.2, size=tables), 2)
    bytes_per_element = 4
    capacity = memory_gb * BYTES_PER_GB
    max_rows = np.floor(MAX_TABLE_FRACTION * capacity / (dims * bytes_per_element)).astype(np.int64)
    rows = np.maximum(1, np.minimum(rows, max_rows))
    while not _first_fit_decreasing(rows * dims * bytes_per_element, devices, memory_gb):
        largest = int(np.argmax(rows * dims))
        rows[largest] = max(1, rows[largest] // 2)
    return TableShardingInstance(
        name=name or f"dlrm-{tables}x{devices}-s{seed}",
        tables=[
            Table(
                name=f"t{i}",
                rows=int(rows[i]),
                dim=int(dims[i]),
                pooling_factor=float(pooling[i]),
                zipf_alpha=float(alpha[i]),
                bytes_per_element=bytes_per_element,
            )
            for i in range(tables)
        ],
        num_devices=devices,
        memory_gb=float(memory_gb),
        batch_size=batch_size,
    )


def _first_fit_decreasing(sizes: npt.NDArray[np.int64], devices: int, memory_gb: float) -> bool:
    """Whether first-fit decreasing places every table, in the model's whole-KB rule
    (sizes rounded up, memory down; see :mod:`problems.table_sharding.model`)."""
    kb = [-(-int(s) // 1000) for s in sizes.tolist()]
    room = [math.floor(memory_gb * 10**6)] * devices
    for size in sorted(kb, reverse=True):
        for d in range(devices):
            if size <= room[d]:
                room[d] -= size
                break
        else:
            return False
    return True


def _builtin(
    name: str, seed: int, tables: int, devices: int, calibration: str | None = None
) -> Callable[[], TableShardingInstance]:
    def make() -> TableShardingInstance:
        instance = generate(seed, tables, devices, name=name)
        return instance if calibration is None else instance.model_copy(update={"calibration": calibration})

    with_model = "" if calibration is None else f", with the calibration {calibration!r}"
    make.__doc__ = (
        f"The built-in instance {name!r}: generate(seed={seed}, tables={tables}, devices={devices}){with_model}."
    )
    return make


BUILTIN_INSTANCES: Mapping[str, Callable[[], TableShardingInstance]] = {
    "dlrm-10x4": _builtin("dlrm-10x4", 2, 10, 4),
    "dlrm-30x4": _builtin("dlrm-30x4", 1, 30, 4),
    "dlrm-30x4-cpu": _builtin("dlrm-30x4-cpu", 1, 30, 4, "cpu-small"),
    "dlrm-60x8": _builtin("dlrm-60x8", 3, 60, 8),
}
"""Named instances (``"instance_ref": "builtin:NAME"``), each built afresh on call. The
first two in sorted order (``dlrm-10x4``, ``dlrm-30x4``) solve to optimality in seconds.
``dlrm-30x4-cpu`` is ``dlrm-30x4`` costed by the shipped CPU calibration ``cpu-small`` (the
neural cost model fitted to real EmbeddingBag timings, :mod:`problems.table_sharding.neural`)
instead of the analytic model: the example spec's instance."""
