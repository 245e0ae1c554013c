"""The instance schema of ``table-sharding@1``: embedding tables of a recommendation model
(DLRM-style) to place on accelerators, each table whole on one device.

An instance has ``tables`` (their sizes and access statistics), the devices (either a list
``devices`` or the shorthand ``num_devices`` identical devices of ``memory_gb`` each), the
global ``batch_size`` and the parameters of the analytic cost model (``cost_model``, see
:mod:`problems.table_sharding.cost`). Units: a table's memory is
``rows * dim * bytes_per_element`` bytes; memory is given in GB with 1 GB = 10**9 bytes;
pooling factors are mean lookups (rows read) per sample; costs are milliseconds per
training iteration.

The pydantic models check each field (strict types, finite numbers, signs, ranges). Rules
across fields are checked by :func:`check_instance`, which raises :class:`SpecError` with
JSON pointers relative to the instance, the messages naming the table at fault, e.g.
``/tables/3: table t3 needs 6.2 GB, larger than every device (5 GB)``: a table larger than
every device, tables that need more memory than all devices hold together, zero devices,
both or neither device form, duplicate names, a cache slower than device memory and the
size limit (:data:`MAX_VARIABLES`), and a ``calibration`` that is not a known, loadable
calibration (:mod:`problems.table_sharding.neural`). An instance that passes can still be infeasible as a
packing (tables that fit in total but not device by device); a solver then says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.errors import FieldError, SpecError

__all__ = [
    "BYTES_PER_GB",
    "DEFAULT_BATCH_SIZE",
    "MAX_ERRORS",
    "MAX_VARIABLES",
    "CostParameters",
    "Device",
    "Table",
    "TableShardingInstance",
    "check_instance",
    "device_label",
    "format_gb",
    "instance_errors",
    "name_tables_in_errors",
    "resolved_devices",
    "table_bytes",
]

BYTES_PER_GB = 10**9
"""1 GB = 10**9 bytes (decimal, as accelerator vendors state memory)."""

MAX_VARIABLES = 1_000_000
"""The largest accepted ``len(tables) * number of devices`` (one binary per pair)."""

MAX_ERRORS = 100
"""At most this many cross-field errors are listed; a last one counts the rest."""

DEFAULT_BATCH_SIZE = 65_536
"""The global batch size of the open DLRM embedding datasets (``fbgemm_t856_bs65536``)."""

Name = Annotated[str, Field(min_length=1, description="A non-empty name, unique in its list.")]
PositiveInt = Annotated[int, Field(ge=1, strict=True)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


class Table(BaseModel):
    """One embedding table (an ``EmbeddingBag``): ``rows`` x ``dim`` elements of
    ``bytes_per_element`` bytes; each sample looks up ``pooling_factor`` rows on average
    (sum-pooled into one ``dim`` vector); row accesses follow a Zipf law of exponent
    ``zipf_alpha`` (0: uniform; larger: a few hot rows take most lookups)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    rows: Annotated[int, Field(ge=1, le=10**12, strict=True)] = Field(description="Rows (hash size), 1 to 10**12.")
    dim: Annotated[int, Field(ge=1, le=65_536, strict=True)] = Field(description="Embedding dimension, 1 to 65536.")
    pooling_factor: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, strict=True)] = Field(
        description="Mean lookups (rows read) per sample, >= 0."
    )
    zipf_alpha: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, strict=True)] = Field(
        default=0.0,
        description="Zipf exponent of row popularity (0 = uniform accesses; 1 is typical of click logs).",
    )
    bytes_per_element: Annotated[int, Field(ge=1, le=8, strict=True)] = Field(
        default=4, description="Bytes per stored element: 4 (fp32), 2 (fp16), 1 (int8)."
    )


class Device(BaseModel):
    """One accelerator: ``memory_gb`` for tables (GB, 10**9 bytes) and ``relative_speed``
    (its lookups, kernels and links run that many times as fast as the reference device of
    the cost model; 1.0 by default)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", description="Optional name; unique when given (plots show d0, d1, ... otherwise).")
    memory_gb: Positive = Field(description="Memory for embedding tables, GB (> 0).")
    relative_speed: Positive = Field(default=1.0, description="Speed relative to the reference device (> 0).")


class CostParameters(BaseModel):
    """Parameters of the analytic device cost model (see :mod:`problems.table_sharding.cost`
    for the formulas). The defaults describe a V100-class GPU in an NVLink-class node: the
    device-memory bandwidth is an *effective* one for random row gathers, a third of the
    V100's 900 GB/s peak (TorchRec's estimators likewise scale peak bandwidths by kernel
    efficiency factors). They are modelling defaults, not measurements of any machine."""

    model_config = ConfigDict(extra="forbid")

    hbm_bandwidth_gbps: Positive = Field(
        default=300.0, description="Effective device-memory bandwidth of row gathers, GB/s."
    )
    cache_bandwidth_gbps: Positive = Field(
        default=1500.0, description="Bandwidth of cache hits (on-chip cache), GB/s; at least hbm_bandwidth_gbps."
    )
    cache_mb_per_table: NonNegative = Field(
        default=4.0, description="Cache share holding each table's hottest rows, MB (10**6 bytes)."
    )
    backward_multiplier: NonNegative = Field(
        default=2.0, description="Backward-pass memory traffic as a multiple of the forward lookups' traffic."
    )
    kernel_launch_ms: NonNegative = Field(
        default=0.25, description="Fixed cost of the fused (table-batched) forward and backward kernels, ms per device."
    )
    per_table_ms: NonNegative = Field(default=0.01, description="Extra kernel bookkeeping per table, ms.")
    interconnect_bandwidth_gbps: Positive = Field(default=100.0, description="All-to-all bandwidth per device, GB/s.")
    output_bytes_per_element: Annotated[int, Field(ge=1, le=8, strict=True)] = Field(
        default=4, description="Bytes per element of pooled embeddings sent in the all-to-all."
    )
    saturation_gb: Positive = Field(
        default=1.0,
        description="Device-memory traffic per iteration (GB) above which contention grows superlinearly.",
    )
    saturation_penalty: NonNegative = Field(
        default=1.0, description="Weight of the superlinear contention term (0 turns it off)."
    )


class TableShardingInstance(BaseModel):
    """Place every table whole on one device, no device over its memory, so that the
    slowest device (its cost in ms per training iteration) is as fast as possible.

    Devices are either ``devices`` (a list) or ``num_devices`` identical devices of
    ``memory_gb`` GB (named d0, d1, ...; speed 1.0), not both."""

    model_config = ConfigDict(extra="forbid", title="table-sharding@1 instance")

    name: str = Field(default="", description="Free-form name of the instance.")
    tables: list[Table] = Field(min_length=1, description="The embedding tables, at least one.")
    devices: list[Device] = Field(default_factory=list, description="The devices (or use num_devices + memory_gb).")
    num_devices: Annotated[int, Field(ge=0, le=100_000, strict=True)] | None = Field(
        default=None, description="Shorthand: this many identical devices (with memory_gb)."
    )
    memory_gb: Positive | None = Field(default=None, description="Shorthand: memory of each device, GB.")
    batch_size: PositiveInt = Field(default=DEFAULT_BATCH_SIZE, description="Global batch size (samples/iteration).")
    cost_model: CostParameters = Field(default_factory=CostParameters, description="Analytic cost model parameters.")
    calibration: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None,
        description=(
            "Name of a calibrated neural cost model (shipped, e.g. cpu-small, or a file NAME.json in "
            "$DESIGNSVC_CALIBRATIONS); it replaces the analytic lookup, kernel and saturation terms "
            "(the all-to-all term stays analytic). See problems/table_sharding/neural.py."
        ),
    )


def table_bytes(table: Table) -> int:
    """Memory of ``table`` in bytes: ``rows * dim * bytes_per_element``."""
    return table.rows * table.dim * table.bytes_per_element


def resolved_devices(instance: TableShardingInstance) -> list[Device]:
    """The devices of ``instance`` as a list, the shorthand expanded (empty when neither
    form gives any; :func:`check_instance` refuses such instances)."""
    if instance.devices:
        return list(instance.devices)
    if instance.num_devices and instance.memory_gb is not None:
        return [Device(name=f"d{k}", memory_gb=instance.memory_gb) for k in range(instance.num_devices)]
    return []


def device_label(device: Device, index: int) -> str:
    """A device's name, or ``d{index}`` when it has none."""
    return device.name or f"d{index}"


def format_gb(value: float, *, other: float | None = None) -> str:
    """GB as a person writes them (``6.2``), with more digits when fewer would print the
    same as ``other``."""
    for digits in (3, 6, 9, 12):
        text = f"{value:.{digits}g}"
        if other is None or text != f"{other:.{digits}g}":
            return text
    return repr(value)


def instance_errors(instance: TableShardingInstance) -> list[FieldError]:
    """Every cross-field rule ``instance`` breaks (empty when valid), with JSON pointers
    relative to the instance; at most :data:`MAX_ERRORS` plus one summary."""
    errors: list[FieldError] = list(_device_form_errors(instance))
    devices = resolved_devices(instance)
    num_vars = len(instance.tables) * len(devices)
    if num_vars > MAX_VARIABLES:
        errors.append(
            FieldError(
                "",
                f"too large: {len(instance.tables)} tables x {len(devices)} devices = {num_vars:,} "
                f"placement variables; the limit is {MAX_VARIABLES:,}",
            )
        )
    errors.extend(_duplicates("tables", [t.name for t in instance.tables], "table"))
    errors.extend(_duplicates("devices", [d.name for d in instance.devices if d.name], "device", instance.devices))
    cost = instance.cost_model
    if cost.cache_bandwidth_gbps < cost.hbm_bandwidth_gbps:
        errors.append(
            FieldError(
                "/cost_model/cache_bandwidth_gbps",
                f"the cache ({cost.cache_bandwidth_gbps:g} GB/s) must be at least as fast as device memory "
                f"(hbm_bandwidth_gbps {cost.hbm_bandwidth_gbps:g} GB/s)",
            )
        )
    if devices:
        errors.extend(_memory_errors(instance, devices))
    if instance.calibration is not None:
        from problems.table_sharding.neural import calibration_error

        message = calibration_error(instance.calibration)
        if message is not None:
            errors.append(FieldError("/calibration", message))
    if len(errors) > MAX_ERRORS:
        rest = len(errors) - MAX_ERRORS
        errors = [*errors[:MAX_ERRORS], FieldError("", f"and {rest} more errors")]
    return errors


def check_instance(instance: TableShardingInstance) -> None:
    """Raise :class:`SpecError` listing every cross-field rule ``instance`` breaks."""
    errors = instance_errors(instance)
    if errors:
        raise SpecError(errors)


_TABLE_POINTER = re.compile(r"^/tables/(\d+)(/|$)")


def name_tables_in_errors(error: SpecError, data: Any) -> SpecError:
    """``error`` with ``table NAME: `` put before each message whose pointer lies inside a
    table of the raw instance ``data`` that has a string name (pydantic's field messages
    do not say which table they are about); other errors are kept as they are."""
    tables = data.get("tables") if isinstance(data, Mapping) else None
    if not isinstance(tables, Sequence) or isinstance(tables, str):
        return error
    renamed: list[FieldError] = []
    for item in error.errors:
        match = _TABLE_POINTER.match(item.pointer)
        name = None
        if match is not None and int(match.group(1)) < len(tables):
            entry = tables[int(match.group(1))]
            name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name and not item.message.startswith("table "):
            renamed.append(FieldError(item.pointer, f"table {name}: {item.message}"))
        else:
            renamed.append(item)
    return SpecError(renamed)


def _device_form_errors(instance: TableShardingInstance) -> list[FieldError]:
    has_list = bool(instance.devices)
    shorthand = instance.num_devices is not None or instance.memory_gb is not None
    if has_list and shorthand:
        pointer = "/num_devices" if instance.num_devices is not None else "/memory_gb"
        return [FieldError(pointer, "give either devices or num_devices with memory_gb, not both")]
    if has_list:
        return []
    if instance.num_devices is None and instance.memory_gb is None:
        return [FieldError("/devices", "zero devices: give devices, or num_devices with memory_gb")]
    if instance.num_devices is None:
        return [FieldError("/num_devices", "memory_gb needs num_devices (the number of such devices)")]
    if instance.num_devices == 0:
        return [FieldError("/num_devices", "zero devices: at least one device is needed")]
    if instance.memory_gb is None:
        return [
            FieldError("/memory_gb", f"num_devices needs memory_gb (the memory of each of the {instance.num_devices})")
        ]
    return []


def _memory_errors(instance: TableShardingInstance, devices: list[Device]) -> list[FieldError]:
    errors: list[FieldError] = []
    largest = max(d.memory_gb for d in devices)
    for t, table in enumerate(instance.tables):
        need = table_bytes(table) / BYTES_PER_GB
        if need > largest:
            errors.append(
                FieldError(
                    f"/tables/{t}",
                    f"table {table.name} needs {format_gb(need, other=largest)} GB, larger than every device "
                    f"({format_gb(largest, other=need)} GB)",
                )
            )
    total_need = math.fsum(table_bytes(t) for t in instance.tables) / BYTES_PER_GB
    total_have = math.fsum(d.memory_gb for d in devices)
    if total_need > total_have:
        biggest = sorted(instance.tables, key=lambda t: -table_bytes(t))[:3]
        listed = ", ".join(f"{t.name} {format_gb(table_bytes(t) / BYTES_PER_GB)} GB" for t in biggest)
        pointer = "/devices" if instance.devices else "/memory_gb"
        errors.append(
            FieldError(
                pointer,
                f"the {len(instance.tables)} tables need {format_gb(total_need, other=total_have)} GB in all, "
                f"more than the {format_gb(total_have, other=total_need)} GB of all {len(devices)} devices together "
                f"(largest tables: {listed})",
            )
        )
    return errors


def _duplicates(field: str, names: list[str], what: str, entries: Sequence[Device] | None = None) -> list[FieldError]:
    """Duplicate names; ``entries`` maps positions when ``names`` skips unnamed devices."""
    positions = list(range(len(names))) if entries is None else [k for k, d in enumerate(entries) if d.name]
    first: dict[str, int] = {}
    errors: list[FieldError] = []
    for name, k in zip(names, positions, strict=True):
        seen = first.setdefault(name, k)
        if seen != k:
            errors.append(
                FieldError(f"/{field}/{k}/name", f"duplicate {what} name {name!r} (also at /{field}/{seen}/name)")
            )
    return errors
