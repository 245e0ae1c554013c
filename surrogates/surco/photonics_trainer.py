"""The ``surco-prior-photonics`` trainer: fits the pixel SurCo-prior network
(:mod:`surrogates.surco.photonics_prior`) over many ``photonics@1`` instances, by imitation.

Targets: each training instance gets SurCo-zero's best design
(:func:`surrogates.surco.pixels.run_pixel_zero` from the straight-path costs, the default
estimator, at most ``zero_simulations`` simulations; the best brush-feasible design met, or
the best design when none was). Loss: the binary cross-entropy of
``sigmoid(-c / imitation_temperature)`` (the pixel's solid probability under costs ``c``)
against the target, mean over pixels: lower loss means the threshold of ``c`` (the fast
oracle's first step) is the target design. Adam, one step per ``batch_size`` instances.

Validation: a seeded ``validation_fraction`` of the instances (default 0.25, at least one
when there are two or more) gets no target; before and after training the prior's one-shot
design (the fast oracle's answer to its costs, one simulation) is scored on every instance;
the metrics report the mean spec loss and the success rate (brush-feasible and spec met),
split by training / validation.

Options (all optional): ``epochs`` (200), ``batch_size`` (4), ``learning_rate`` (3e-3),
``hidden`` (16), ``layers`` (4), ``zero_simulations`` (100), ``imitation_temperature``
(0.3), ``validation_fraction`` (0.25), ``device`` (``auto`` | ``cpu`` | ``cuda``).
"""

from __future__ import annotations

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

__all__ = ["PhotonicsTrainerOptions", "SurCoPriorPhotonicsTrainer"]


class PhotonicsTrainerOptions(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=200, ge=1, le=100_000)
    batch_size: int = Field(default=4, ge=1, le=1000)
    learning_rate: float = Field(default=3e-3, gt=0, le=1)
    hidden: int = Field(default=16, ge=2, le=512)
    layers: int = Field(default=4, ge=1, le=16)
    zero_simulations: int = Field(default=100, ge=1, le=100_000)
    imitation_temperature: float = Field(default=0.3, gt=0, le=100)
    validation_fraction: float = Field(default=0.25, ge=0, lt=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SurCoPriorPhotonicsTrainer(Trainer):
    """Trains the pixel ``surco-prior`` network for ``photonics@1`` (see the module docstring)."""

    name: ClassVar[str] = "surco-prior-photonics"
    problem: ClassVar[str] = "photonics@1"
    title: ClassVar[str] = "SurCo-prior for photonics: a CNN from the device image to pixel costs, by imitation"
    queue: ClassVar[str] = "gpu"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        _parse(PhotonicsTrainerOptions, options)

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

        from surrogates.surco import checkpoint, photonics_prior
        from surrogates.surco.pixels import PixelConfig, run_pixel_zero

        opts: PhotonicsTrainerOptions = _parse(PhotonicsTrainerOptions, options)
        t_start = time.perf_counter()
        device = checkpoint.select_device(opts.device)
        if device.type == "cpu":
            torch.set_num_threads(1)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        names = [getattr(p.instance, "name", "") or f"instance-{k}" for k, p in enumerate(problems)]
        interfaces = [p.surrogate_interface() for p in problems]
        first = interfaces[0]
        prior = photonics_prior.PixelPrior(
            photonics_prior.PixelPriorConfig(
                image_names=tuple(first.image_names),
                context_names=tuple(first.context_names),
                hidden=opts.hidden,
                layers=opts.layers,
            )
        ).to(device)
        for name, interface in zip(names, interfaces, strict=True):
            photonics_prior.check_inputs(prior, interface, f"instance {name}: the network")
        inputs = [photonics_prior.pixel_inputs(i, device) for i in interfaces]
        order = rng.permutation(len(problems)).tolist()
        held = min(round(opts.validation_fraction * len(problems)), len(problems) - 1)
        validation = sorted(order[:held])
        training = sorted(order[held:])

        def one_shot() -> list[JsonDict]:
            prior.eval()
            rows: list[JsonDict] = []
            for k, interface in enumerate(interfaces):
                assert interface.fast_argmin is not None
                with torch.no_grad():
                    c = prior(*inputs[k]).double().cpu().numpy()
                x, _ = interface.fast_argmin(c)
                evaluation = problems[k].evaluate(interface.design(x))
                met = evaluation.feasible and evaluation.breakdown.get("spec_met", 0.0) == 1.0
                rows.append(
                    {
                        "instance": names[k],
                        "split": "validation" if k in validation else "training",
                        "spec_loss": evaluation.objective,
                        "feasible": evaluation.feasible,
                        "success": bool(met),
                    }
                )
            return rows

        before = one_shot()
        on_event({"type": "stage", "stage": "evaluated", "when": "before"})
        deadline = t_start + time_limit_s - 30.0
        targets: dict[int, Any] = {}
        target_rows: list[JsonDict] = []
        config = PixelConfig(max_simulations=opts.zero_simulations)
        for n, k in enumerate(training):
            if cancel_token.cancelled or time.perf_counter() > deadline:
                break
            result = run_pixel_zero(interfaces[k].initial_costs, interfaces[k], config, deadline=deadline)
            best = result.best if result.best is not None else result.best_any
            targets[k] = torch.as_tensor(best.x, dtype=torch.float32, device=device)
            target_rows.append(
                {
                    "instance": names[k],
                    "target_objective": best.objective,
                    "target_feasible": best.feasible,
                    "start_objective": result.start.objective,
                    "simulations": result.simulations,
                }
            )
            on_event(
                {
                    "type": "progress",
                    "stage": "targets",
                    "instance": n + 1,
                    "instances": len(training),
                    "target_objective": best.objective,
                    "elapsed_s": time.perf_counter() - t_start,
                }
            )
        optimizer = torch.optim.Adam(prior.parameters(), lr=opts.learning_rate)
        curve: list[JsonDict] = []
        trainable = sorted(targets)
        prior.train()
        for epoch in range(1, opts.epochs + 1):
            if not trainable or cancel_token.cancelled or time.perf_counter() > deadline:
                break
            losses: list[float] = []
            shuffled = rng.permutation(trainable).tolist()
            for lo in range(0, len(shuffled), opts.batch_size):
                batch = shuffled[lo : lo + opts.batch_size]
                optimizer.zero_grad()
                for k in batch:
                    c = prior(*inputs[k])
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        -c / opts.imitation_temperature, targets[k]
                    ) / len(batch)
                    loss.backward()  # type: ignore[no-untyped-call]
                    losses.append(float(loss.item()) * len(batch))
                torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
                optimizer.step()
            row = {"epoch": epoch, "imitation_loss": float(np.mean(losses))}
            curve.append(row)
            if epoch % 10 == 0 or epoch == opts.epochs:
                on_event({"type": "progress", "epochs": opts.epochs, "elapsed_s": time.perf_counter() - t_start, **row})
        after = one_shot()
        metrics: JsonDict = {
            "epochs": len(curve),
            "instances": names,
            "validation_instances": [names[k] for k in validation],
            "device": str(device),
            "options": opts.model_dump(mode="json"),
            "prior": prior.config.to_json(),
            "curve": curve,
            "targets": target_rows,
            "before": before,
            "after": after,
            **{
                f"{when}_{split}_{key}": value
                for when, rows in (("before", before), ("after", after))
                for split, (key, value) in _split_stats(rows)
            },
            "train_s": time.perf_counter() - t_start,
        }
        meta = {
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "seed": seed,
            "torch": str(torch.__version__),
            "instances": names,
            "validation_instances": [names[k] for k in validation],
            "epochs": len(curve),
            "options": opts.model_dump(mode="json"),
        }
        data = photonics_prior.dump(prior, meta)
        return TrainingOutput(
            checkpoint=Artifact("surco-prior-photonics.pt", "application/octet-stream", data),
            fingerprint=checkpoint.fingerprint(data),
            metrics=metrics,
            artifacts=[],
        )


def _split_stats(rows: Sequence[JsonDict]) -> list[tuple[str, tuple[str, float | None]]]:
    """``(split, (statistic, value))`` pairs: mean spec loss and success rate per split."""
    out: list[tuple[str, tuple[str, float | None]]] = []
    for split in ("training", "validation"):
        chosen = [r for r in rows if r["split"] == split]
        loss = float(np.mean([r["spec_loss"] for r in chosen])) if chosen else None
        rate = float(np.mean([r["success"] for r in chosen])) if chosen else None
        out += [(split, ("mean_spec_loss", loss)), (split, ("success_rate", rate))]
    return out
