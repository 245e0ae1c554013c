"""A neural device cost model of ``table-sharding@1`` calibrated on real kernels, evaluated
with numpy (no torch): :class:`CalibratedCostModel`.

A *calibration* is a JSON file written by the ``sharding-calibration`` trainer
(``designsvc calibrate sharding``), which times real ``torch.nn.EmbeddingBag`` forward and
backward passes with sparse SGD updates of random combinations of tables and fits a
DeepSets network to them (the measurement and the network are documented in
``surrogates/shardcost/measure.py`` and ``fit.py``). An instance names one in its optional
field ``calibration``: a file ``<name>.json`` among the shipped calibrations
(``problems/table_sharding/calibrations/``, each described in its README.md) or, for names
not shipped, in the directory named by the environment variable ``DESIGNSVC_CALIBRATIONS``
(the machine's own calibrations). Names are plain (letters, digits, ``.``, ``_``, ``-``);
never a path, so a REST client cannot make the server read arbitrary files.

**The network** (weights in the file; ``softplus(a) = log(1 + e^a)``). Per table ``t`` the
features (see :data:`FEATURE_NAMES`; ``rows_eff = min(rows, row_cap)``, ``row_cap`` the
cap the measurements used) are normalized, ``f_t = (raw_t - mean) / std``, and embedded::

    phi_t = exp(P2 softplus(P1 f_t + p1) + p2)                       (E values, > 0)

For a device ``d`` and a (fractional) plan ``x`` (tables x devices)::

    z_d   = sum_t x[t,d] phi_t
    a_d   = R1 z_d + r1,      m_d = (r2 . softplus(a_d) + r0) * B / b     compute, ms

with ``R1, r2 >= 0`` and ``r0 > 0`` (stored as fitted), ``B`` the instance's
``batch_size`` and ``b`` the calibration's measure batch (times scale linearly with the
samples, see ``surrogates/shardcost/measure.py``). ``phi > 0``, ``R1, r2 >= 0`` and an
increasing activation make ``m_d`` non-decreasing in every ``x[t,d]``: adding a table never
lowers the cost (monotone by construction). The model is not additive: ``r0`` is paid once
per used device (fixed per-iteration costs, so ``m({a, b}) < m({a}) + m({b})`` when ``rho``
is near linear) and ``rho`` is convex in ``z``, so it can also grow faster than linearly.

**Device cost** (ms per iteration; ``s_d`` the device's ``relative_speed``)::

    cost_d(S)  = (m_d(S) + comm(S)) / s_d,        cost_d({}) = 0

``comm(S) = sum_t comm_ms_t`` is the all-to-all term of the analytic model
(:mod:`problems.table_sharding.cost`, term c), which one machine cannot measure. The
calibrated model thus stands for the analytic lookup, kernel and saturation terms.

**Relaxed form** (fractional ``x``, for SurCo): with ``g_d = 1 - prod_t (1 - x[t,d])``
(the multilinear extension of "the device holds a table": 1 at a non-empty 0/1 column, 0 at
an empty one)::

    cost_d(x) = ( g_d m_d(x) + sum_t x[t,d] comm_ms_t ) / s_d

equal to the device cost at 0/1 plans, non-decreasing in ``x`` (a product of non-negative
non-decreasing factors plus a non-negative sum), and with the gradient (ms per unit of x)::

    d cost_d / d x[t,d] = ( prod_{s != t} (1 - x[s,d]) m_d
                          + g_d (phi_t . dm/dz_d) + comm_ms_t ) / s_d
    dm/dz_d = R1^T (r2 * sigmoid(a_d)) * B / b
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from problems.table_sharding.cost import AnalyticCostModel
from problems.table_sharding.schema import Device, Table, TableShardingInstance, resolved_devices

__all__ = [
    "ENV_VAR",
    "FEATURE_NAMES",
    "FORMAT",
    "SHIPPED_DIR",
    "CalibratedCostModel",
    "Calibration",
    "RelaxedCalibratedCosts",
    "available_calibrations",
    "calibration_error",
    "load_calibration",
    "resolve_calibration",
    "table_features",
]

FloatArray = npt.NDArray[np.float64]

FORMAT = "designsvc.shardcost/1"
FEATURE_NAMES = ("log_rows_eff", "log_dim", "log1p_pooling", "zipf_alpha", "bytes_per_element", "log1p_lookups")
"""Must match ``surrogates.shardcost.fit.FEATURE_NAMES`` (a test checks it)."""
SHIPPED_DIR = Path(__file__).parent / "calibrations"
ENV_VAR = "DESIGNSVC_CALIBRATIONS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def table_features(table: Table, row_cap: int) -> list[float]:
    """The raw features of one table, in :data:`FEATURE_NAMES` order (see the module
    docstring); the same numbers as the trainer's."""
    rows_eff = max(1, min(table.rows, row_cap))
    return [
        math.log(rows_eff),
        math.log(table.dim),
        math.log1p(table.pooling_factor),
        float(table.zipf_alpha),
        table.bytes_per_element / 4.0,
        math.log1p(table.pooling_factor * table.dim),
    ]


def _softplus(a: FloatArray) -> FloatArray:
    return np.asarray(np.logaddexp(0.0, a), dtype=np.float64)


def _sigmoid(a: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * a)), dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    """A loaded calibration: the network's arrays (``p1``: ``(H, F)`` etc., as in the module
    docstring), ``row_cap``, ``measure_batch``, and the file's ``meta``, ``metrics``,
    ``name`` and ``sha256``."""

    name: str
    sha256: str
    mean: FloatArray
    std: FloatArray
    p1: FloatArray
    b1: FloatArray
    p2: FloatArray
    b2: FloatArray
    r1: FloatArray
    c1: FloatArray
    r2: FloatArray
    c2: float
    row_cap: int
    measure_batch: int
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, data: Any, *, name: str = "", sha256: str = "") -> Calibration:
        """From the parsed JSON; ValueError saying what is wrong."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a calibration of format {FORMAT!r}")
        if tuple(data.get("features", ())) != FEATURE_NAMES:
            raise ValueError(f"its features {data.get('features')} are not {list(FEATURE_NAMES)}")
        if data.get("output") != "ms" or data.get("activation") != "softplus" or data.get("embedding") != "exp":
            raise ValueError("unsupported output, activation or embedding (expected ms, softplus and exp)")
        try:
            phi, rho = data["phi"], data["rho"]
            arrays = [
                np.asarray(v, dtype=np.float64)
                for v in (
                    data["feature_mean"],
                    data["feature_std"],
                    phi[0]["weight"],
                    phi[0]["bias"],
                    phi[1]["weight"],
                    phi[1]["bias"],
                    rho[0]["weight"],
                    rho[0]["bias"],
                    rho[1]["weight"],
                )
            ]
            c2 = float(rho[1]["bias"][0])
            row_cap, measure_batch = int(data["row_cap"]), int(data["measure_batch"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"missing or malformed weights ({type(exc).__name__}: {exc})") from exc
        mean, std, p1, b1, p2, b2, r1, c1, r2 = arrays
        f = len(FEATURE_NAMES)
        hidden, embed = p1.shape[0] if p1.ndim == 2 else -1, p2.shape[0] if p2.ndim == 2 else -1
        rho_hidden = r1.shape[0] if r1.ndim == 2 else -1
        shapes_ok = (
            mean.shape == (f,)
            and std.shape == (f,)
            and p1.shape == (hidden, f)
            and b1.shape == (hidden,)
            and p2.shape == (embed, hidden)
            and b2.shape == (embed,)
            and r1.shape == (rho_hidden, embed)
            and c1.shape == (rho_hidden,)
            and r2.shape == (1, rho_hidden)
        )
        if not shapes_ok:
            raise ValueError("weight matrices of inconsistent shapes")
        if not all(np.isfinite(a).all() for a in arrays) or not math.isfinite(c2) or (std <= 0).any():
            raise ValueError("non-finite weights or non-positive feature_std")
        if (r1 < 0).any() or (r2 < 0).any() or c2 <= 0:
            raise ValueError("rho weights must be non-negative and its constant positive (monotonicity rests on it)")
        if row_cap < 1 or measure_batch < 1:
            raise ValueError("row_cap and measure_batch must be >= 1")
        return cls(
            name=name,
            sha256=sha256,
            mean=mean,
            std=std,
            p1=p1,
            b1=b1,
            p2=p2,
            b2=b2,
            r1=r1,
            c1=c1,
            r2=r2[0],
            c2=c2,
            row_cap=row_cap,
            measure_batch=measure_batch,
            meta=dict(data.get("meta") or {}),
            metrics=dict(data.get("metrics") or {}),
        )

    def embed(self, tables: Sequence[Table]) -> FloatArray:
        """``phi``: ``(T, E)`` embeddings (> 0) of ``tables``."""
        if not tables:
            return np.zeros((0, self.p2.shape[0]))
        raw = np.array([table_features(t, self.row_cap) for t in tables], dtype=np.float64)
        f = (raw - self.mean) / self.std
        return np.asarray(np.exp(_softplus(f @ self.p1.T + self.b1) @ self.p2.T + self.b2), dtype=np.float64)

    def compute(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(m (D,), dm/dz (D, E))`` for pooled embeddings ``z`` ``(D, E)``: compute ms at
        the measure batch."""
        a = z @ self.r1.T + self.c1
        m = _softplus(a) @ self.r2 + self.c2
        dm_dz = (_sigmoid(a) * self.r2[None, :]) @ self.r1
        return np.asarray(m, dtype=np.float64), np.asarray(dm_dz, dtype=np.float64)


def available_calibrations() -> list[str]:
    """The names of the shipped calibrations and of those in ``$DESIGNSVC_CALIBRATIONS``."""
    names = {p.stem for p in SHIPPED_DIR.glob("*.json")}
    user = os.environ.get(ENV_VAR)
    if user and Path(user).is_dir():
        names.update(p.stem for p in Path(user).glob("*.json") if _NAME.match(p.stem))
    return sorted(names)


def resolve_calibration(name: str) -> Path:
    """The file of calibration ``name``: shipped first, then ``$DESIGNSVC_CALIBRATIONS``.
    ValueError for a name that is not plain or not found."""
    if not _NAME.match(name):
        raise ValueError(
            f"calibration {name!r} is not a plain name (letters, digits, '.', '_', '-'; at most 100); "
            "name a shipped calibration or one in $" + ENV_VAR
        )
    candidates = [SHIPPED_DIR / f"{name}.json"]
    user = os.environ.get(ENV_VAR)
    if user:
        candidates.append(Path(user) / f"{name}.json")
    for path in candidates:
        if path.is_file():
            return path
    known = ", ".join(available_calibrations()) or "none"
    where = f"shipped or in ${ENV_VAR} ({user})" if user else f"shipped (set ${ENV_VAR} to a folder of your own)"
    raise ValueError(f"unknown calibration {name!r}: none of that name is {where}; known: {known}")


@functools.lru_cache(maxsize=32)
def _load_file(path: str, mtime_ns: int, size: int) -> Calibration:
    del mtime_ns, size  # cache keys: a rewritten file is read again
    data = Path(path).read_bytes()
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"is not valid JSON ({exc})") from exc
    return Calibration.from_document(document, name=Path(path).stem, sha256=hashlib.sha256(data).hexdigest())


def load_calibration(name: str) -> Calibration:
    """Load calibration ``name`` (cached while the file is unchanged); ValueError naming the
    calibration and what is wrong."""
    path = resolve_calibration(name)
    try:
        stat = path.stat()
        return _load_file(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise ValueError(f"calibration {name!r} ({path.name}) cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValueError(f"calibration {name!r} ({path.name}) is broken: {exc}") from exc


def calibration_error(name: str) -> str | None:
    """None when calibration ``name`` loads, else the message saying why not."""
    try:
        load_calibration(name)
    except ValueError as exc:
        return str(exc)
    return None


class CalibratedCostModel:
    """The calibrated device cost model of the module docstring: ``calibration``'s network
    for compute, ``analytic``'s all-to-all term for communication, times scaled from the
    measure batch to ``batch_size``."""

    def __init__(self, calibration: Calibration, analytic: AnalyticCostModel) -> None:
        self.calibration = calibration
        self.analytic = analytic
        self.batch_scale = analytic.batch_size / calibration.measure_batch

    @classmethod
    def from_instance(cls, instance: TableShardingInstance) -> CalibratedCostModel:
        """The model of ``instance.calibration`` (ValueError when it is None or broken)."""
        if instance.calibration is None:
            raise ValueError("the instance names no calibration")
        return cls(load_calibration(instance.calibration), AnalyticCostModel.from_instance(instance))

    def compute_ms(self, tables_on_device: Sequence[Table]) -> float:
        """The network's compute time of these tables at the instance's batch (reference
        device), ms; 0 for no tables."""
        if not tables_on_device:
            return 0.0
        z = self.calibration.embed(tables_on_device).sum(axis=0, keepdims=True)
        m, _ = self.calibration.compute(z)
        return float(m[0]) * self.batch_scale

    def comm_ms(self, tables_on_device: Sequence[Table]) -> float:
        """The analytic all-to-all term (reference device), ms."""
        return math.fsum(self.analytic.traffic(t).comm_ms for t in tables_on_device)

    def device_cost(self, tables_on_device: Sequence[Table], device: Device) -> float:
        """``(compute + comm) / relative_speed`` in ms; 0 for no tables."""
        if not tables_on_device:
            return 0.0
        return (self.compute_ms(tables_on_device) + self.comm_ms(tables_on_device)) / device.relative_speed

    def relaxed(self, instance: TableShardingInstance) -> RelaxedCalibratedCosts:
        """The relaxed form for ``instance``'s tables and devices."""
        return RelaxedCalibratedCosts(self, instance.tables, resolved_devices(instance))


class RelaxedCalibratedCosts:
    """The relaxed device costs of the module docstring for fixed tables and devices."""

    def __init__(self, model: CalibratedCostModel, tables: Sequence[Table], devices: Sequence[Device]) -> None:
        self.model = model
        self.embeddings = model.calibration.embed(tables)
        self.comm = np.array([model.analytic.traffic(t).comm_ms for t in tables], dtype=np.float64)
        self.speed = np.array([d.relative_speed for d in devices], dtype=np.float64)
        self.shape = (len(tables), len(devices))

    def device_costs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(cost (D,), d cost_d / d x[:, d] as (T, D))`` in ms."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.shape:
            raise ValueError(f"x has shape {x.shape}, expected {self.shape} (tables x devices)")
        free = 1.0 - x
        ones = np.ones((1, x.shape[1]))
        prefix = np.vstack([ones, np.cumprod(free, axis=0)[:-1]])
        suffix = np.vstack([np.cumprod(free[::-1], axis=0)[::-1][1:], ones])
        used = 1.0 - prefix[-1] * free[-1]
        z = x.T @ self.embeddings  # (D, E)
        m, dm_dz = self.model.calibration.compute(z)
        scale = self.model.batch_scale
        compute = m * scale
        raw = used * compute + self.comm @ x
        grad = (
            prefix * suffix * compute[None, :]
            + used[None, :] * scale * (self.embeddings @ dm_dz.T)
            + self.comm[:, None]
        )
        return raw / self.speed, grad / self.speed[None, :]
