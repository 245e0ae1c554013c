"""The ``czp`` trainer: a CZP surrogate (:class:`~surrogates.czp.CZPSurrogate`) of an
``antenna@1`` family's ``|S11|``, trained with GaLore by default; the checkpoint the
``czp-search`` proposer starts from.

Data: ``n_designs`` designs sampled uniformly (seeded by the job's seed) from the design
space (``space``: ``family``, the family's default space with the instance's wire radius,
the default, so one checkpoint serves every instance of the family; or ``instance``, the
instance's own bounds and rules) and simulated with NEC2 over the sweep (``sweep``:
``instance``, the default, or ``family``, the family's default sweep) through the problem's
:meth:`~designsvc.core.problem.Problem.parametric_interface` (``workers`` processes; every
simulation cached on disk, so a second run simulates nothing). The one instance given sets
the family, radius, segmentation, reference impedance and sweep.

Training: :func:`surrogates.czp.training.train_surrogate` (dB mean-squared error, a seeded
``holdout_fraction`` of the designs held out): ``optimizer`` ``galore`` (our GaLore AdamW,
``rank``, ``update_proj_gap``, ``scale``) or ``adamw``; ``epochs``, ``learning_rate``,
``batch_size``; model sizes ``pairs`` (conjugate pairs of zeros and of poles), ``hidden``,
``layers``. Progress events every few epochs; the job's time limit and cancel stop training
early (the model so far is kept).

Output: the checkpoint ``czp-<family>.pt`` (:mod:`surrogates.czp.checkpoint`, with the
family, parameter names, the unit box and the metrics in its meta; SHA-256 fingerprint),
the learning curve ``czp-learning-curve.png``, and metrics: held-out and training dB RMSE,
final loss, optimizer state bytes, data-set counts and timings.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.cancel import CancelToken
from designsvc.core.options import parse_options
from designsvc.core.problem import Problem
from designsvc.core.trainer import Trainer, TrainingOutput
from designsvc.core.types import Artifact, JsonDict

__all__ = ["CZPTrainer", "CZPTrainerOptions", "learning_curve_png"]


class CZPTrainerOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    n_designs: int = Field(default=1500, ge=4, le=200_000)
    holdout_fraction: float = Field(default=0.2, ge=0, lt=1)
    space: Literal["family", "instance"] = "family"
    sweep: Literal["instance", "family"] = "instance"
    optimizer: Literal["galore", "adamw"] = "galore"
    epochs: int = Field(default=300, ge=1, le=100_000)
    learning_rate: float = Field(default=3e-3, gt=0, le=1)
    batch_size: int = Field(default=64, ge=1, le=100_000)
    rank: int = Field(default=8, ge=1, le=4096)
    update_proj_gap: int = Field(default=50, ge=1, le=1_000_000)
    scale: float = Field(default=1.0, gt=0, le=100)
    pairs: int = Field(default=3, ge=1, le=32)
    hidden: int = Field(default=64, ge=2, le=4096)
    layers: int = Field(default=2, ge=1, le=16)
    workers: int | None = Field(default=None, ge=1, le=256)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class CZPTrainer(Trainer):
    """Trains the CZP surrogate of an ``antenna@1`` family (see the module docstring)."""

    name: ClassVar[str] = "czp"
    problem: ClassVar[str] = "antenna@1"
    title: ClassVar[str] = "CZP surrogate of antenna |S11| (NEC2 data, GaLore AdamW)"
    queue: ClassVar[str] = "gpu"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        parse_options(CZPTrainerOptions, options)

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

        from surrogates.czp import checkpoint
        from surrogates.czp.model import CZPConfig, CZPSurrogate
        from surrogates.czp.training import train_surrogate
        from surrogates.devices import select_device

        opts: CZPTrainerOptions = parse_options(CZPTrainerOptions, options)
        if len(problems) != 1:
            raise ValueError(
                f"czp trains on one instance's family and sweep; got {len(problems)} instances (give one --instance)"
            )
        t_start = time.perf_counter()
        deadline = t_start + time_limit_s
        device = select_device(opts.device)
        if device.type == "cpu":
            torch.set_num_threads(1)
        interface = problems[0].parametric_interface()
        workers = opts.workers or max(1, min(4, os.cpu_count() or 1))
        on_event({"type": "stage", "stage": "dataset", "n_designs": opts.n_designs, "workers": workers})
        data = interface.dataset(opts.n_designs, seed=seed, workers=workers, space=opts.space, sweep=opts.sweep)
        dataset_s = time.perf_counter() - t_start
        on_event(
            {
                "type": "stage",
                "stage": "dataset-done",
                "simulated": data.simulated,
                "cache_hits": data.cache_hits,
                "elapsed_s": dataset_s,
            }
        )
        model = CZPSurrogate(
            CZPConfig.for_sweep(
                len(data.param_names), data.freqs_hz, pairs=opts.pairs, hidden=opts.hidden, layers=opts.layers
            ),
            seed=seed,
        )

        def progress(row: dict[str, Any]) -> None:
            on_event(
                {
                    "type": "progress",
                    "stage": "train",
                    "iteration": row["epoch"],
                    "iterations": row["epochs"],
                    "loss_db2": row["loss_db2"],
                    "elapsed_s": time.perf_counter() - t_start,
                }
            )

        result = train_surrogate(
            model,
            data.unit_params,
            data.freqs_hz,
            data.s11,
            optimizer=opts.optimizer,
            epochs=opts.epochs,
            lr=opts.learning_rate,
            batch_size=opts.batch_size,
            rank=opts.rank,
            update_proj_gap=opts.update_proj_gap,
            scale=opts.scale,
            holdout_fraction=opts.holdout_fraction,
            seed=seed,
            device=str(device.type),
            on_progress=progress,
            progress_every=max(1, opts.epochs // 100),
            should_stop=lambda: cancel_token.cancelled or time.perf_counter() > deadline - 5.0,
        )
        train_json = result.to_json()
        curve = train_json.pop("curve")
        stride = max(1, math.ceil(len(curve) / 100))
        thinned = curve[::stride] + ([curve[-1]] if curve and (len(curve) - 1) % stride else [])
        dataset_json: JsonDict = {
            **data.description,
            "n_designs": len(data.params),
            "simulated": data.simulated,
            "cache_hits": data.cache_hits,
            "dataset_s": dataset_s,
        }
        meta: JsonDict = {
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "family": interface.family,
            "param_names": list(data.param_names),
            "lower": [float(v) for v in data.lower],
            "upper": [float(v) for v in data.upper],
            "param_units": interface.param_units,
            "freqs_hz": [float(data.freqs_hz[0]), float(data.freqs_hz[-1]), len(data.freqs_hz)],
            "dataset": dataset_json,
            "training": train_json,
            "options": opts.model_dump(mode="json"),
            "seed": seed,
            "torch": str(torch.__version__),
            "device": str(device),
        }
        data_bytes = checkpoint.dump(model, meta)
        n_train = result.n_train
        steps = result.epochs * math.ceil(n_train / opts.batch_size)
        summary = (
            f"CZP ({result.parameters} weights, {opts.optimizer}) on {len(data.params)} {interface.family} designs "
            f"({data.simulated} simulated, {data.cache_hits} cached, {dataset_s:.1f} s): held-out RMSE "
            f"{_fmt(result.rmse_db)} dB, training RMSE {_fmt(result.train_rmse_db)} dB, final loss "
            f"{_fmt(result.final_loss_db2)} dB^2, optimizer state {result.optimizer_state_bytes} bytes"
        )
        metrics: JsonDict = {
            "iterations": result.epochs,
            "steps": steps,
            "train_s": time.perf_counter() - t_start,
            "fit_s": result.wall_s,
            "device": str(device),
            "summary": summary,
            "dataset": dataset_json,
            **{k: v for k, v in train_json.items() if k != "curve"},
            "curve": thinned,
            "options": opts.model_dump(mode="json"),
        }
        png = learning_curve_png(curve, result.rmse_db, title=f"CZP, {interface.family}, {opts.optimizer}")
        return TrainingOutput(
            checkpoint=Artifact(f"czp-{interface.family}.pt", "application/octet-stream", data_bytes),
            fingerprint=checkpoint.fingerprint(data_bytes),
            metrics=metrics,
            artifacts=[Artifact("czp-learning-curve.png", "image/png", png)],
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def learning_curve_png(curve: Sequence[Mapping[str, float]], held_out_rmse_db: float | None, *, title: str) -> bytes:
    """A PNG of the training loss (dB^2, log scale) per epoch, the held-out RMSE in the
    legend (matplotlib's Agg canvas, no pyplot state)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    epochs = [row["epoch"] for row in curve]
    losses = [row["loss_db2"] for row in curve]
    label = "training loss"
    if held_out_rmse_db is not None and not math.isnan(held_out_rmse_db):
        label += f" (held-out RMSE {held_out_rmse_db:.2f} dB)"
    axes.plot(epochs, losses, label=label)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("mean squared dB error")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
