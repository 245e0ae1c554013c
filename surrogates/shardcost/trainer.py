"""The ``sharding-calibration`` trainer: calibrates the neural device cost model of
``table-sharding@1`` on this machine's real kernels.

It draws ``samples`` random combinations of 1 to ``max_tables`` distinct tables from the
training instances' tables (seeded), measures each combination as one device's workload
(:func:`surrogates.shardcost.measure.measure_tables`: ``torch.nn.EmbeddingBag`` forward,
backward and sparse SGD update at ``batch`` samples, rows capped at ``row_cap``, median of
``repeats`` after ``warmup``), fits the DeepSets model (:mod:`surrogates.shardcost.fit`) on
a seeded split and returns the calibration JSON as the checkpoint
(``sharding-calibration.json``, SHA-256 fingerprint), a PNG of predicted against measured
times, and metrics: held-out (and training) MAE in ms, mean and median relative error,
Spearman rank correlation, the number of measurements and the seconds spent measuring and
fitting. It measures until ``samples`` are done, the job's time limit (keeping
``fit_reserve_s`` for the fit) or a cancel, then fits whatever it has (at least 8).

The calibration's ``meta`` records how it was made: the device (``cpu`` with the CPU
model from ``/proc/cpuinfo``, or the CUDA device's name), torch version, cores, the load
average before and after (other processes add noise to CPU timings), the date, the command
line, the options, the seed and the instances. Put the file in a folder named by
``$DESIGNSVC_CALIBRATIONS`` and give instances ``"calibration": "<file stem>"``.

Options: ``device`` (``auto`` | ``cpu`` | ``cuda``), ``samples`` (200), ``max_tables``
(6), ``batch`` (1024), ``row_cap`` (100000), ``memory_budget_gb`` (1.5), ``warmup`` (1),
``repeats`` (3), ``hidden`` (32), ``embed`` (16), ``steps`` (2000 Adam steps),
``learning_rate`` (0.01), ``validation_fraction`` (0.2), ``fit_reserve_s`` (30).

:meth:`ShardingCalibrationTrainer.measure` is the entry point of ``designsvc measure``:
it measures a plan device by device for real (the CLI reaches it through the trainer
registry, as the service layer may not import plug-in families).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.cancel import CancelToken
from designsvc.core.options import parse_options as _parse
from designsvc.core.problem import Problem
from designsvc.core.trainer import Trainer, TrainingOutput
from designsvc.core.types import Artifact, JsonDict

__all__ = ["MeasureOptions", "ShardingCalibrationTrainer", "TrainerOptions", "cpu_model", "parse_options"]

MIN_MEASUREMENTS = 8


class TrainerOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["auto", "cpu", "cuda"] = "auto"
    samples: int = Field(default=200, ge=MIN_MEASUREMENTS, le=100_000)
    max_tables: int = Field(default=6, ge=1, le=256)
    batch: int = Field(default=1024, ge=16, le=1_000_000)
    row_cap: int = Field(default=100_000, ge=16, le=10**9)
    memory_budget_gb: float = Field(default=1.5, gt=0, le=1000)
    warmup: int = Field(default=1, ge=0, le=100)
    repeats: int = Field(default=3, ge=1, le=1000)
    hidden: int = Field(default=32, ge=2, le=1024)
    embed: int = Field(default=16, ge=2, le=1024)
    steps: int = Field(default=2000, ge=1, le=1_000_000)
    learning_rate: float = Field(default=0.01, gt=0, le=1)
    validation_fraction: float = Field(default=0.2, ge=0, lt=1)
    fit_reserve_s: float = Field(default=30.0, ge=0, le=86_400)


class MeasureOptions(BaseModel):
    """Options of :meth:`ShardingCalibrationTrainer.measure` (as the trainer's)."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["auto", "cpu", "cuda"] = "cpu"
    batch: int = Field(default=1024, ge=16, le=1_000_000)
    row_cap: int = Field(default=100_000, ge=16, le=10**9)
    memory_budget_gb: float = Field(default=4.0, gt=0, le=1000)
    warmup: int = Field(default=2, ge=0, le=100)
    repeats: int = Field(default=5, ge=1, le=1000)
    seed: int = Field(default=0, ge=0)
    in_process: bool = False


def parse_options(options: Mapping[str, Any]) -> TrainerOptions:
    """Validate options; ValueError ``option 'name': message`` on the first bad one."""
    return _parse(TrainerOptions, options)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _instance_tables(problem: Problem[Any]) -> list[dict[str, Any]]:
    data = problem.instance.model_dump(mode="json")
    tables = data.get("tables")
    if not isinstance(tables, list):
        raise ValueError("the instance has no tables")
    return tables


class ShardingCalibrationTrainer(Trainer):
    """Measures EmbeddingBag workloads and fits the neural cost model (module docstring)."""

    name: ClassVar[str] = "sharding-calibration"
    problem: ClassVar[str] = "table-sharding@1"
    title: ClassVar[str] = "Neural device cost model calibrated on real EmbeddingBag timings"
    queue: ClassVar[str] = "gpu"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        parse_options(options)

    def train(
        self,
        problems: Sequence[Problem[Any]],
        *,
        options: Mapping[str, Any],
        seed: int,
        time_limit_s: float,
        on_event: Callable[[JsonDict], None],
        cancel_token: CancelToken,
    ) -> TrainingOutput:
        import torch

        from surrogates.shardcost.fit import export, fit
        from surrogates.shardcost.measure import MeasureConfig, TableSpec, measure_tables, select_device_name

        opts = parse_options(options)
        t_start = time.perf_counter()
        device = select_device_name(opts.device)
        load_before = _load()
        names = [getattr(p.instance, "name", "") or f"instance-{k}" for k, p in enumerate(problems)]
        pool: list[TableSpec] = []
        for problem in problems:
            for table in _instance_tables(problem):
                spec = TableSpec.from_mapping(table)
                if spec not in pool:
                    pool.append(spec)
        if not pool:
            raise ValueError("the training instances have no tables")
        rng = np.random.default_rng(seed)
        deadline = t_start + time_limit_s - opts.fit_reserve_s
        sets: list[list[TableSpec]] = []
        times: list[float] = []
        for k in range(opts.samples):
            if cancel_token.cancelled or time.perf_counter() > deadline:
                break
            size = int(rng.integers(1, min(opts.max_tables, len(pool)) + 1))
            chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=size, replace=False).tolist())]
            config = MeasureConfig(
                device=device,
                batch=opts.batch,
                row_cap=opts.row_cap,
                memory_budget_gb=opts.memory_budget_gb,
                warmup=opts.warmup,
                repeats=opts.repeats,
                seed=seed * 1_000_003 + k,
            )
            ms = measure_tables(chosen, config)
            if not ms > 0.0:
                continue
            sets.append(chosen)
            times.append(ms)
            on_event(
                {
                    "type": "progress",
                    "stage": "measure",
                    "iteration": k + 1,
                    "iterations": opts.samples,
                    "tables": size,
                    "ms": ms,
                    "elapsed_s": time.perf_counter() - t_start,
                }
            )
        measure_s = time.perf_counter() - t_start
        if len(sets) < MIN_MEASUREMENTS:
            raise ValueError(
                f"only {len(sets)} measurements in the time given (at least {MIN_MEASUREMENTS} are needed); "
                "raise the time limit or lower fit_reserve_s"
            )
        on_event({"type": "stage", "stage": "fit", "measurements": len(sets)})
        torch.set_num_threads(1)
        t_fit = time.perf_counter()
        result = fit(
            sets,
            times,
            row_cap=opts.row_cap,
            seed=seed,
            hidden=opts.hidden,
            embed=opts.embed,
            steps=opts.steps,
            learning_rate=opts.learning_rate,
            validation_fraction=opts.validation_fraction,
        )
        fit_s = time.perf_counter() - t_fit
        device_name = cpu_model() if device == "cpu" else str(torch.cuda.get_device_name(0))
        metrics: JsonDict = {
            "device": device,
            "device_name": device_name,
            "measurements": len(sets),
            "tables_in_pool": len(pool),
            "validation": result.metrics["validation"],
            "training": result.metrics["training"],
            "final_training_loss": result.metrics["final_training_loss"],
            "measure_s": measure_s,
            "fit_s": fit_s,
            "train_s": time.perf_counter() - t_start,
            "instances": names,
            "options": opts.model_dump(mode="json"),
        }
        meta: JsonDict = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "device": device,
            "device_name": device_name,
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch": str(torch.__version__),
            "torch_threads": 1,
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": _load(),
            "command": " ".join(sys.argv),
            "seed": seed,
            "instances": names,
            "options": opts.model_dump(mode="json"),
            "measurements": len(sets),
            "measure_s": round(measure_s, 1),
            "fit_s": round(fit_s, 1),
            "update": "sparse SGD (torch.optim.SGD on sparse EmbeddingBag gradients)",
        }
        document = export(result, row_cap=opts.row_cap, measure_batch=opts.batch, meta=meta)
        data = (json.dumps(document, indent=1) + "\n").encode()
        return TrainingOutput(
            checkpoint=Artifact("sharding-calibration.json", "application/json", data),
            fingerprint=hashlib.sha256(data).hexdigest(),
            metrics=metrics,
            artifacts=[_scatter_png(result.measured_ms, result.predicted_ms, result.validation, device_name)],
        )

    @staticmethod
    def measure(problem: Problem[Any], design: Mapping[str, Any], options: Mapping[str, Any]) -> JsonDict:
        """Measure ``design`` (``{"assign": {table: device index}}``) of ``problem`` (a
        ``table-sharding@1`` problem) for real: each device's tables in turn in one worker
        process (:func:`surrogates.shardcost.measure.measure_plan`), times scaled to the
        instance's batch size. Returns per device the measured ms and the problem's cost
        model ms (its evaluator's ``device{k}_cost_ms``), their maxima and the Spearman
        rank correlation between the two over devices. ``options``:
        :class:`MeasureOptions`. ValueError for a bad design or options."""
        from surrogates.shardcost.measure import MeasureConfig, TableSpec, measure_plan, select_device_name

        opts = _parse(MeasureOptions, options)
        data = problem.instance.model_dump(mode="json")
        tables = _instance_tables(problem)
        devices = data.get("devices") or []
        num_devices = len(devices) if devices else int(data.get("num_devices") or 0)
        assign = design.get("assign") if isinstance(design, Mapping) else None
        if not isinstance(assign, Mapping):
            raise ValueError('the design must be {"assign": {table_name: device_index}}')
        evaluation = problem.evaluate(dict(design))
        by_name = {t["name"]: t for t in tables}
        groups: list[list[TableSpec]] = [[] for _ in range(num_devices)]
        for name, k in assign.items():
            if name not in by_name or not isinstance(k, int) or not 0 <= k < num_devices:
                raise ValueError(f"the design puts {name!r} on {k!r}: unknown table or device")
            groups[k].append(TableSpec.from_mapping(by_name[name]))
        config = MeasureConfig(
            device=select_device_name(opts.device),
            batch=opts.batch,
            row_cap=opts.row_cap,
            memory_budget_gb=opts.memory_budget_gb,
            warmup=opts.warmup,
            repeats=opts.repeats,
            seed=opts.seed,
        )
        measured = measure_plan(
            groups, config, batch_size=int(data.get("batch_size") or opts.batch), in_process=opts.in_process
        )
        model_ms = [evaluation.breakdown.get(f"device{k}_cost_ms") for k in range(num_devices)]
        rows = [
            {"device": k, "tables": len(groups[k]), "measured_ms": measured["device_ms"][k], "model_ms": model_ms[k]}
            for k in range(num_devices)
        ]
        pairs = [(r["measured_ms"], r["model_ms"]) for r in rows if r["model_ms"] is not None]
        spearman = None
        if len(pairs) > 2:
            from scipy.stats import spearmanr

            value = float(spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic)
            spearman = value if np.isfinite(value) else None
        return {
            "devices": rows,
            "measured_max_ms": measured["max_ms"],
            "model_max_ms": evaluation.objective,
            "feasible": evaluation.feasible,
            "spearman": spearman,
            "measure_batch": config.batch,
            "batch_size": measured["batch_size"],
            "device": config.device,
            "device_name": cpu_model() if config.device == "cpu" else config.device,
            "config": measured["config"],
        }


def _scatter_png(measured: Any, predicted: Any, validation: Any, device_name: str) -> Artifact:
    """Predicted against measured ms (log-log), training and held-out points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    held = np.zeros(len(measured), dtype=bool)
    held[np.asarray(validation, dtype=np.int64)] = True
    ax.scatter(measured[~held], predicted[~held], s=10, alpha=0.6, label="training")
    ax.scatter(measured[held], predicted[held], s=14, color="#c0392b", label="held out")
    lo = float(min(measured.min(), predicted.min())) * 0.8
    hi = float(max(measured.max(), predicted.max())) * 1.25
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured ms (measure batch)")
    ax.set_ylabel("predicted ms")
    ax.set_title(f"sharding calibration on {device_name}"[:70], fontsize=9)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return Artifact(name="calibration-scatter.png", media_type="image/png", data=buffer.getvalue())
