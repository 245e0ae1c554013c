"""Fitting a dB surrogate (CZP or the MLP baseline) to S11 sweeps: a function outside the
model classes (BoTorch style) that takes plain numpy arrays.

Loss: mean squared error between the model's dB curve and the data's, both through
:func:`surrogates.czp.response.db_magnitude` with the same floor (``db_floor``), over all
frequencies of the minibatch's designs (units dB^2). The designs are split once (seeded)
into a training part and a held-out part (``holdout_fraction``), on which ``rmse_db`` is
measured after training.

Optimizers: ``adamw`` (``torch.optim.AdamW``) or ``galore`` (our
:class:`~surrogates.optim.GaLoreAdamW` on :func:`~surrogates.optim.galore_param_groups`:
2-D weights whose smaller side exceeds ``rank`` projected, the rest plain AdamW; with
``layerwise=True`` the layer-wise variant).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import torch

from surrogates.czp.response import DB_FLOOR, db_magnitude
from surrogates.devices import select_device
from surrogates.optim import GaLoreAdamW, LayerwiseGaLoreAdamW, galore_param_groups, optimizer_state_bytes

__all__ = ["DbSurrogate", "TrainResult", "check_arrays", "split_indices", "train_surrogate"]


class DbSurrogate(Protocol):
    """What :func:`train_surrogate` needs of a model (an ``nn.Module``): ``predict_db``
    ``(N, P), (F,) -> (N, F)`` and ``prepare`` (data-dependent initialization)."""

    def predict_db(
        self, unit_params: torch.Tensor, freqs_hz: torch.Tensor, floor_db: float = DB_FLOOR
    ) -> torch.Tensor: ...

    def prepare(self, freqs_hz: torch.Tensor, target_db: torch.Tensor) -> None: ...

    def parameters(self) -> Any: ...

    def to(self, device: torch.device) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@dataclass(frozen=True)
class TrainResult:
    """``final_loss_db2``: the last epoch's mean training loss (dB^2); ``train_rmse_db``
    and ``rmse_db``: RMS dB error after training on the training and held-out designs
    (``nan`` without held-out designs); ``optimizer_state_bytes``: the optimizer's state
    after training; ``wall_s``: seconds spent; ``curve``: per epoch ``{"epoch",
    "loss_db2"}``."""

    optimizer: str
    epochs: int
    final_loss_db2: float
    train_rmse_db: float
    rmse_db: float
    optimizer_state_bytes: int
    wall_s: float
    n_train: int
    n_test: int
    parameters: int
    curve: list[dict[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if math.isnan(self.rmse_db):
            data["rmse_db"] = None
        return data


def check_arrays(
    unit_params: npt.ArrayLike, freqs_hz: npt.ArrayLike, s11: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.complex128]]:
    """The three arrays as float64 ``(N, P)``, float64 ``(F,)``, complex128 ``(N, F)``;
    ValueError naming the first one that is malformed (shape, non-finite values, unit
    parameters outside ``[0, 1]``, non-positive or unsorted frequencies)."""
    x = np.asarray(unit_params, dtype=np.float64)
    f = np.asarray(freqs_hz, dtype=np.float64)
    s = np.asarray(s11, dtype=np.complex128)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"unit_params: expected shape (N, P), got {x.shape}")
    if not np.isfinite(x).all() or x.min() < -1e-9 or x.max() > 1 + 1e-9:
        raise ValueError("unit_params: expected finite values in [0, 1]")
    if f.ndim != 1 or f.size < 2 or not np.isfinite(f).all() or f.min() <= 0 or (np.diff(f) <= 0).any():
        raise ValueError("freqs_hz: expected (F,) positive increasing frequencies, F >= 2")
    if s.shape != (x.shape[0], f.size):
        raise ValueError(f"s11: expected shape {(x.shape[0], f.size)}, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("s11: expected finite values")
    return np.clip(x, 0.0, 1.0), f, s


def split_indices(n: int, holdout_fraction: float, seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(train, held-out)`` indices of a seeded permutation of ``range(n)``; the held-out
    part has ``round(n * holdout_fraction)`` designs, leaving at least one to train on."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in [0, 1), got {holdout_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(round(n * holdout_fraction), n - 1)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def train_surrogate(
    model: DbSurrogate,
    unit_params: npt.ArrayLike,
    freqs_hz: npt.ArrayLike,
    s11: npt.ArrayLike,
    *,
    optimizer: Literal["galore", "adamw"] = "galore",
    epochs: int = 300,
    lr: float = 3e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    rank: int = 8,
    update_proj_gap: int = 50,
    scale: float = 1.0,
    layerwise: bool = False,
    holdout_fraction: float = 0.2,
    db_floor: float = DB_FLOOR,
    seed: int = 0,
    device: str = "cpu",
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    progress_every: int = 10,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fits ``model`` in place (it stays on ``device``, in eval mode) to the sweeps
    ``s11`` ``(N, F)`` (complex) at ``freqs_hz`` ``(F,)`` (Hz) of the designs
    ``unit_params`` ``(N, P)`` (in ``[0, 1]``); see the module docstring.

    ``epochs`` passes over the training designs in seeded random minibatches of
    ``batch_size``; ``rank``, ``update_proj_gap``, ``scale`` and ``layerwise`` apply to
    ``galore``. ``on_progress`` gets ``{"epoch", "epochs", "loss_db2", "elapsed_s"}``
    every ``progress_every`` epochs and after the last; ``should_stop`` (checked each
    epoch) ends training early (cancel, time limit). ``device``: ``auto``, ``cpu`` or
    ``cuda`` (:func:`surrogates.devices.select_device`)."""
    if optimizer not in ("galore", "adamw"):
        raise ValueError(f"optimizer must be 'galore' or 'adamw', got {optimizer!r}")
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
    t_start = time.perf_counter()
    x_np, f_np, s_np = check_arrays(unit_params, freqs_hz, s11)
    train_idx, test_idx = split_indices(x_np.shape[0], holdout_fraction, seed)
    torch_device: torch.device = select_device(device)
    model.to(torch_device)
    x = torch.as_tensor(x_np, dtype=torch.float32, device=torch_device)
    f = torch.as_tensor(f_np, dtype=torch.float64, device=torch_device)
    target = db_magnitude(torch.as_tensor(s_np, dtype=torch.complex128), db_floor).to(torch.float32).to(torch_device)
    train_t = torch.as_tensor(train_idx, device=torch_device)
    model.prepare(f, target[train_t])

    module: torch.nn.Module = model  # type: ignore[assignment]
    opt: Any
    if optimizer == "adamw":
        opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        groups = galore_param_groups(module, rank=rank, update_proj_gap=update_proj_gap, scale=scale)
        factory = LayerwiseGaLoreAdamW if layerwise else GaLoreAdamW
        opt = factory(groups, lr=lr, weight_decay=weight_decay)
    steps_in_backward = optimizer == "galore" and layerwise

    gen = torch.Generator().manual_seed(seed)
    curve: list[dict[str, float]] = []
    model.train()
    done = 0
    for epoch in range(epochs):
        if should_stop is not None and should_stop():
            break
        order = train_t[torch.randperm(train_t.numel(), generator=gen).to(torch_device)]
        total, count = 0.0, 0
        for start in range(0, order.numel(), batch_size):
            batch = order[start : start + batch_size]
            loss = torch.mean((model.predict_db(x[batch], f, db_floor) - target[batch]) ** 2)
            loss.backward()  # type: ignore[no-untyped-call]
            if not steps_in_backward:
                opt.step()
                opt.zero_grad(set_to_none=True)
            total += float(loss.detach()) * batch.numel()
            count += batch.numel()
        done = epoch + 1
        curve.append({"epoch": float(done), "loss_db2": total / count})
        if on_progress is not None and (done % progress_every == 0 or done == epochs):
            on_progress(
                {"epoch": done, "epochs": epochs, "loss_db2": total / count, "elapsed_s": time.perf_counter() - t_start}
            )
    if isinstance(opt, LayerwiseGaLoreAdamW):
        opt.remove()
    model.train(False)
    train_rmse = _rmse_db(model, x[train_t], f, target[train_t], db_floor)
    test_t = torch.as_tensor(test_idx, device=torch_device)
    test_rmse = _rmse_db(model, x[test_t], f, target[test_t], db_floor)
    return TrainResult(
        optimizer=optimizer + ("-layerwise" if steps_in_backward else ""),
        epochs=done,
        final_loss_db2=curve[-1]["loss_db2"] if curve else math.nan,
        train_rmse_db=train_rmse,
        rmse_db=test_rmse,
        optimizer_state_bytes=optimizer_state_bytes(opt),
        wall_s=time.perf_counter() - t_start,
        n_train=int(train_idx.size),
        n_test=int(test_idx.size),
        parameters=sum(p.numel() for p in module.parameters() if p.requires_grad),
        curve=curve,
    )


@torch.no_grad()
def _rmse_db(model: DbSurrogate, x: torch.Tensor, f: torch.Tensor, target: torch.Tensor, floor: float) -> float:
    if x.shape[0] == 0:
        return math.nan
    error = model.predict_db(x, f, floor) - target
    return float(error.square().mean().sqrt())
