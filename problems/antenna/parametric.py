"""The parametric-response view of an ``antenna@1`` instance
(:class:`designsvc.core.parametric.ParametricInterface`), for simulator-surrogate proposers
such as ``czp-search``: the design space (mm), the sweep and the target as band masks, NEC2
simulation (:func:`problems.antenna.evaluate.simulate_instance`, so the evaluator finds the
proposer's designs in its in-memory cache), the L1 projection the Pyomo model states
(:func:`problems.antenna.sampling.project`), uniform sampling, and training data sets
(:func:`problems.antenna.dataset.generate_dataset`, cached on disk).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from designsvc.core.parametric import ParametricDataset, ParametricInterface
from designsvc.core.types import JsonDict
from problems.antenna.evaluate import _in_band, design_from_vector, parse_design, simulate_instance
from problems.antenna.families import DesignSpace, design_space
from problems.antenna.sampling import project, sample_designs
from problems.antenna.schema import AntennaInstance, Sweep

__all__ = ["parametric_interface"]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


def parametric_interface(instance: AntennaInstance, space: DesignSpace) -> ParametricInterface:
    """The parametric view of ``instance`` (whose design space is ``space``)."""
    freqs = instance.sweep.freqs_hz
    mhz = freqs / 1e6
    target = instance.target
    pass_masks = np.array([_in_band(mhz, b.start_mhz, b.stop_mhz) for b in target.bands], dtype=np.bool_)
    reject_masks = np.array(
        [_in_band(mhz, b.start_mhz, b.stop_mhz) for b in target.reject_bands], dtype=np.bool_
    ).reshape(len(target.reject_bands), freqs.size)
    A, b = space.matrices()

    def simulate(params: FloatArray) -> ComplexArray:
        rows = np.atleast_2d(np.asarray(params, dtype=np.float64))
        out = np.full((rows.shape[0], freqs.size), np.nan + 0j, dtype=np.complex128)
        for i, row in enumerate(rows):
            try:
                out[i] = simulate_instance(instance, space.params(row))
            except ValueError:
                continue  # NEC refused the geometry: a NaN row
        return out

    def params_of(design: JsonDict) -> FloatArray:
        params, problems = parse_design(space, design)
        if problems:
            raise ValueError(problems[0])
        return space.vector(params)

    def dataset(
        n: int, *, seed: int = 0, workers: int = 1, space: str = "family", sweep: str = "instance"
    ) -> ParametricDataset:
        return _dataset(instance, n, seed=seed, workers=workers, which_space=space, which_sweep=sweep)

    return ParametricInterface(
        family=space.family.value,
        param_names=tuple(space.names),
        param_units="mm",
        lower=space.lower.copy(),
        upper=space.upper.copy(),
        rules_matrix=A.copy(),
        rules_rhs=b.copy(),
        freqs_hz=freqs,
        reference_impedance_ohm=float(instance.reference_impedance_ohm),
        pass_masks=pass_masks,
        pass_ceilings_db=np.array([band.max_s11_db for band in target.bands], dtype=np.float64),
        reject_masks=reject_masks,
        reject_floors_db=np.array([band.min_s11_db for band in target.reject_bands], dtype=np.float64),
        simulate=simulate,
        project=lambda params: project(space, np.asarray(params, dtype=np.float64)),
        sample=lambda n, seed: sample_designs(space, n, np.random.default_rng(seed)),
        design=lambda params: design_from_vector(space, params),
        params_of=params_of,
        fixed_for=lambda params: {"target": space.params(np.asarray(params, dtype=np.float64))},
        dataset=dataset,
    )


def _dataset(
    instance: AntennaInstance, n: int, *, seed: int, workers: int, which_space: str, which_sweep: str
) -> ParametricDataset:
    from problems.antenna.dataset import generate_dataset
    from problems.antenna.generate import DEFAULT_SWEEPS
    from problems.antenna.schema import instance_space

    if which_space not in ("family", "instance"):
        raise ValueError(f"space must be 'family' or 'instance', got {which_space!r}")
    if which_sweep not in ("family", "instance"):
        raise ValueError(f"sweep must be 'family' or 'instance', got {which_sweep!r}")
    space = (
        design_space(instance.family, wire_radius_mm=instance.wire_radius_mm)
        if which_space == "family"
        else instance_space(instance)
    )
    sweep: Sweep = DEFAULT_SWEEPS[instance.family] if which_sweep == "family" else instance.sweep
    data = generate_dataset(
        instance.family,
        n,
        sweep=sweep,
        radius_mm=instance.wire_radius_mm,
        seed=seed,
        workers=workers,
        space=space,
        reference_impedance_ohm=instance.reference_impedance_ohm,
        segments_per_wavelength=instance.segments_per_wavelength,
    )
    description: dict[str, Any] = {
        "family": instance.family.value,
        "space": which_space,
        "sweep": sweep.model_dump(mode="json"),
        "wire_radius_mm": instance.wire_radius_mm,
        "segments_per_wavelength": instance.segments_per_wavelength,
        "reference_impedance_ohm": instance.reference_impedance_ohm,
        "seed": seed,
        "n": n,
    }
    return ParametricDataset(
        family=instance.family.value,
        param_names=tuple(data.param_names),
        params=data.params,
        freqs_hz=data.freqs_hz,
        s11=data.s11,
        lower=data.lower_mm,
        upper=data.upper_mm,
        space=which_space,
        reference_impedance_ohm=data.reference_impedance_ohm,
        simulated=data.simulated,
        cache_hits=data.cache_hits,
        description=description,
    )
