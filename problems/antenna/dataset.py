"""Simulated data sets of antenna families, for training surrogates (CZP and others).

Public API (all lengths in mm, frequencies in Hz unless a name says MHz)::

    from problems.antenna.dataset import AntennaDataset, generate_dataset, simulate
    from problems.antenna.schema import Sweep

    sweep = Sweep(start_mhz=1000, stop_mhz=4000, points=101)
    data = generate_dataset("three-branch-monopole", 2000, sweep=sweep, seed=0, workers=4)
    data.params       # (N, P) float64, mm, physical units, in data.param_names order
    data.unit_params  # (N, P) float64 in [0, 1]: (params - lower) / (upper - lower) per bound
    data.freqs_hz     # (F,) float64
    data.s11          # (N, F) complex128, S11 against data.reference_impedance_ohm
    s11 = simulate("three-branch-monopole", data.params[0], radius_mm=0.25, sweep=sweep)  # (F,)

:func:`generate_dataset` samples ``n`` designs uniformly from the family's design space
(its bounds and linear rules; :func:`problems.antenna.sampling.sample_designs`, seeded by
``seed``; pass ``space`` for other bounds, spacing, box or radius), simulates them with NEC2
in a process pool of ``workers`` processes (``spawn`` context; ``workers=1`` runs in this
process) and returns an :class:`AntennaDataset`. Each simulation is cached on disk as the
input impedance (``.npy``, complex128) under :func:`cache_dir` (``$DESIGNSVC_CACHE_DIR``
if set, else platformdirs' user cache dir of ``designsvc``; subfolder ``antenna-nec``),
keyed by the SHA-256 of (family, exact parameters, radius, sweep, segmentation, cache
version); a repeated call re-simulates nothing (``simulated == 0``, ``cache_hits == N``).
``cache=False`` skips the cache. :meth:`AntennaDataset.save` / :meth:`AntennaDataset.load`
keep a data set in one ``.npz`` file.

A simulation takes about 0.05-0.15 s (one core) for 41-101 points. Requires necpp (the
GPL-3.0 ``nec`` extra); a design NEC refuses raises ``ValueError`` naming the wire.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import numpy.typing as npt

from problems.antenna.families import DesignSpace, Family, design_space, param_names
from problems.antenna.nec import s11_from_impedance
from problems.antenna.sampling import sample_designs
from problems.antenna.schema import Sweep
from problems.antenna.simulator import design_impedance

__all__ = ["CACHE_ENV", "CACHE_VERSION", "AntennaDataset", "cache_dir", "generate_dataset", "simulate"]

CACHE_ENV = "DESIGNSVC_CACHE_DIR"
CACHE_VERSION = 1
"""Bumped when the simulation changes in a way that invalidates cached impedances."""

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


def cache_dir() -> Path:
    """Where simulations are cached: ``$DESIGNSVC_CACHE_DIR/antenna-nec`` or the user
    cache dir of designsvc (platformdirs) ``/antenna-nec``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        from platformdirs import user_cache_dir

        root = user_cache_dir("designsvc")
    return Path(root) / "antenna-nec"


@dataclass(frozen=True)
class AntennaDataset:
    """Simulated designs of one family. Shapes: ``params`` and ``unit_params`` (N, P),
    ``freqs_hz`` (F,), ``s11`` (N, F) complex; ``lower_mm``/``upper_mm`` (P,) the bounds the
    unit coordinates refer to. ``simulated`` and ``cache_hits`` count how the N rows were
    obtained by this call (not saved)."""

    family: Family
    param_names: tuple[str, ...]
    params: FloatArray
    unit_params: FloatArray
    freqs_hz: FloatArray
    s11: ComplexArray
    lower_mm: FloatArray
    upper_mm: FloatArray
    wire_radius_mm: float
    reference_impedance_ohm: float
    simulated: int = 0
    cache_hits: int = 0

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def save(self, path: str | Path) -> None:
        """Write the data set to one ``.npz`` file."""
        np.savez_compressed(
            Path(path),
            family=np.array(self.family.value),
            param_names=np.array(self.param_names),
            params=self.params,
            unit_params=self.unit_params,
            freqs_hz=self.freqs_hz,
            s11=self.s11,
            lower_mm=self.lower_mm,
            upper_mm=self.upper_mm,
            wire_radius_mm=np.array(self.wire_radius_mm),
            reference_impedance_ohm=np.array(self.reference_impedance_ohm),
        )

    @classmethod
    def load(cls, path: str | Path) -> AntennaDataset:
        """Read a data set written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            return cls(
                family=Family(str(data["family"])),
                param_names=tuple(str(n) for n in data["param_names"]),
                params=np.asarray(data["params"], dtype=np.float64),
                unit_params=np.asarray(data["unit_params"], dtype=np.float64),
                freqs_hz=np.asarray(data["freqs_hz"], dtype=np.float64),
                s11=np.asarray(data["s11"], dtype=np.complex128),
                lower_mm=np.asarray(data["lower_mm"], dtype=np.float64),
                upper_mm=np.asarray(data["upper_mm"], dtype=np.float64),
                wire_radius_mm=float(data["wire_radius_mm"]),
                reference_impedance_ohm=float(data["reference_impedance_ohm"]),
            )


def _as_params(family: Family, params: Mapping[str, float] | Sequence[float] | FloatArray) -> dict[str, float]:
    names = param_names(family)
    if isinstance(params, Mapping):
        return {n: float(params[n]) for n in names}
    vector = np.asarray(params, dtype=np.float64).ravel()
    if vector.size != len(names):
        raise ValueError(f"{family.value} takes {len(names)} parameters ({', '.join(names)}), got {vector.size}")
    return dict(zip(names, vector.tolist(), strict=True))


def _key(family: Family, vector: Sequence[float], radius_mm: float, sweep: Sweep, spw: int) -> str:
    payload = {
        "v": CACHE_VERSION,
        "family": family.value,
        "params": [float(v).hex() for v in vector],
        "radius_mm": float(radius_mm).hex(),
        "sweep": [float(sweep.start_mhz).hex(), float(sweep.stop_mhz).hex(), sweep.points],
        "segments_per_wavelength": spw,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _impedance(
    family: Family, vector: Sequence[float], radius_mm: float, sweep: Sweep, spw: int, *, root: Path | None
) -> tuple[ComplexArray, bool]:
    """``(Z, from_cache)`` of one design; ``root`` None: no disk cache."""
    path: Path | None = None
    if root is not None:
        key = _key(family, vector, radius_mm, sweep, spw)
        path = root / key[:2] / f"{key}.npy"
        if path.is_file():
            try:
                return np.load(path, allow_pickle=False).astype(np.complex128), True
            except (OSError, ValueError):
                pass  # a damaged entry is simulated again
    z = design_impedance(
        family,
        dict(zip(param_names(family), vector, strict=True)),
        wire_radius_mm=radius_mm,
        freqs_hz=sweep.freqs_hz,
        segments_per_wavelength=spw,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, z, allow_pickle=False)
        os.replace(tmp, path)
    return z, False


def _worker(args: tuple[str, list[float], float, dict[str, float | int], int, str | None]) -> tuple[ComplexArray, bool]:
    family, vector, radius_mm, sweep, spw, root = args
    return _impedance(
        Family(family), vector, radius_mm, Sweep.model_validate(sweep), spw, root=None if root is None else Path(root)
    )


def simulate(
    family: Family | str,
    params: Mapping[str, float] | Sequence[float] | FloatArray,
    radius_mm: float,
    sweep: Sweep,
    *,
    reference_impedance_ohm: float = 50.0,
    segments_per_wavelength: int = 20,
    cache: bool = True,
) -> ComplexArray:
    """Complex ``S11`` (shape (sweep.points,)) of one design: ``params`` as ``{name: mm}``
    or a (P,) vector in :func:`~problems.antenna.families.param_names` order (mm). Cached
    on disk like :func:`generate_dataset` unless ``cache=False``."""
    fam = Family(family)
    values = _as_params(fam, params)
    vector = [values[n] for n in param_names(fam)]
    z, _ = _impedance(fam, vector, radius_mm, sweep, segments_per_wavelength, root=cache_dir() if cache else None)
    return s11_from_impedance(z, reference_impedance_ohm)


def generate_dataset(
    family: Family | str,
    n: int,
    *,
    sweep: Sweep,
    radius_mm: float | None = None,
    seed: int = 0,
    workers: int = 1,
    space: DesignSpace | None = None,
    reference_impedance_ohm: float = 50.0,
    segments_per_wavelength: int = 20,
    cache: bool = True,
) -> AntennaDataset:
    """``n`` uniformly sampled designs of ``family`` simulated over ``sweep`` (see the
    module docstring). ``radius_mm`` defaults to ``space``'s, else the family's;
    ``space`` defaults to the family's default design space with that radius."""
    fam = Family(family)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if space is None:
        space = design_space(fam, wire_radius_mm=radius_mm)
    elif space.family is not fam:
        raise ValueError(f"the design space is of {space.family.value}, not {fam.value}")
    radius = space.wire_radius_mm if radius_mm is None else float(radius_mm)
    params = sample_designs(space, n, np.random.default_rng(seed))
    root = cache_dir() if cache else None
    jobs = [
        (
            fam.value,
            row.tolist(),
            radius,
            sweep.model_dump(),
            segments_per_wavelength,
            None if root is None else str(root),
        )
        for row in params
    ]
    if workers == 1 or n <= 1:
        results = [_worker(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_worker, jobs, chunksize=max(1, n // (4 * workers))))
    z = np.vstack([r[0] for r in results]) if results else np.zeros((0, sweep.points), dtype=np.complex128)
    hits = sum(1 for r in results if r[1])
    return AntennaDataset(
        family=fam,
        param_names=space.names,
        params=params,
        unit_params=space.to_unit(params),
        freqs_hz=sweep.freqs_hz,
        s11=s11_from_impedance(z, reference_impedance_ohm).reshape(n, sweep.points),
        lower_mm=space.lower,
        upper_mm=space.upper,
        wire_radius_mm=radius,
        reference_impedance_ohm=reference_impedance_ohm,
        simulated=len(results) - hits,
        cache_hits=hits,
    )
