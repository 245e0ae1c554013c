"""``photonics@1``: inverse design of a planar photonic device (waveguide bend, mode
converter, beam splitter, wavelength demultiplexer; the ceviche-challenges devices) that
meets its transmission spec and the foundry's minimum feature size.

- Instance: :mod:`problems.photonics.schema` (device, resolution, geometry, spec windows,
  brush). Device geometry and simulation: ceviche-challenges (:mod:`problems.photonics.devices`).
- Feasible set: the brush rule as an exact Pyomo model over the design grid
  (:mod:`problems.photonics.model`), checked independently by morphology
  (:mod:`problems.photonics.brush`).
- Evaluation: ceviche FDFD, the spec loss (0 when met), transmissions per port and
  wavelength (:mod:`problems.photonics.evaluate`); picture: :mod:`problems.photonics.render`.
- Designs: ``{"solid": [[0/1, ...], ...]}`` over the design region (rows along x).

The model's objective is linear over pixels (a target or SurCo's costs) while the
evaluator's is the simulated spec loss, so ``objective_is_linear`` is False.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pyomo.environ as pyo
from pydantic import BaseModel

from designsvc.core.problem import Baseline, Problem
from designsvc.core.surrogate import SurrogateInterface
from designsvc.core.types import Artifact, Evaluation, JsonDict
from problems.photonics import baselines as _baselines
from problems.photonics import evaluate as _evaluate
from problems.photonics import generate as _generate
from problems.photonics import model as _model
from problems.photonics.brush import fixed_frame, open_close_projection
from problems.photonics.devices import DeviceSetup, device_setup
from problems.photonics.schema import Device, PhotonicsInstance, Resolution
from problems.photonics.schema import check_instance as _check_instance

__all__ = ["PhotonicsProblem"]

_SIZE_KEYS = ("design_px", "device", "default_resolution")


class PhotonicsProblem(Problem[PhotonicsInstance]):
    """Pixels of a photonic device's design region, solid or void, obeying the brush rule
    (minimum width and spacing), least spec loss; designs are ``{"solid": [[0/1]]}``."""

    kind: ClassVar[str] = "photonics"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Photonic inverse design under a minimum feature size (ceviche FDFD)"
    instance_schema: ClassVar[type[BaseModel]] = PhotonicsInstance
    objective_is_linear: ClassVar[bool] = False

    def __init__(self, instance: PhotonicsInstance) -> None:
        super().__init__(instance)
        self.setup: DeviceSetup = device_setup(instance)

    @classmethod
    def check_instance(cls, instance: PhotonicsInstance) -> None:
        _check_instance(instance)

    @classmethod
    def builtin_instances(cls) -> Mapping[str, Callable[[], PhotonicsInstance]]:
        return _generate.BUILTIN_INSTANCES

    @classmethod
    def generate(cls, *, seed: int, **size: int) -> PhotonicsInstance:
        """A random instance; ``size`` takes ``design_px`` (design region side, pixels,
        default 30), ``device`` (0 bend, 1 mode converter, 2 beam splitter, 3 WDM; default
        drawn from the seed) and ``default_resolution`` (1: 10 nm pixels; default 0: 40 nm)."""
        unknown = sorted(set(size) - set(_SIZE_KEYS))
        if unknown:
            raise ValueError(f"unknown size parameter(s) {', '.join(unknown)}; photonics takes {', '.join(_SIZE_KEYS)}")
        device_index = size.get("device")
        if device_index is not None and not 0 <= device_index < len(_generate.DEVICES):
            raise ValueError(f"device must be 0 to {len(_generate.DEVICES) - 1}, got {device_index}")
        device: Device | None = None if device_index is None else _generate.DEVICES[device_index]
        resolution = Resolution.DEFAULT if size.get("default_resolution", 0) else Resolution.LIGHTWEIGHT
        instance = _generate.generate(
            seed, device=device, resolution=resolution, design_px=size.get("design_px", _generate.DEFAULT_DESIGN_PX)
        )
        _check_instance(instance)
        return instance

    @classmethod
    def example_spec(cls) -> JsonDict:
        return {
            "problem": cls.id(),
            "instance_ref": "builtin:bend-lightweight-small",
            "solver": {"name": "highs", "options": {}},
            # Room for a SurCo proposer's simulations (up to 200 of about 0.5 s, then the
            # exact model's final solve); a plain solve of the default target takes a second.
            "limits": {"time_limit_s": 600, "rel_gap": 0.0001, "threads": 1, "seed": 0},
            "compare_baselines": True,
            "tags": ["example"],
        }

    def build_model(self, *, fixed: Mapping[str, Any] | None = None) -> pyo.ConcreteModel:
        """See :mod:`problems.photonics.model`; ``fixed`` is ``{"costs": [[...]]}`` (per-pixel
        linear costs, ``R`` rows of ``C``) or ``{"target": [[0/1]]}`` (the nearest feasible
        design to a target); default: the target is the straight path, opened and closed by
        the brush (:func:`~problems.photonics.brush.open_close_projection`). ``ValueError``
        for another form or shape."""
        costs = _model.resolve_costs(self.setup, fixed, self.default_target())
        return _model.build_model(self.setup, costs, name=self.instance.name or "photonics")

    def default_target(self) -> npt.NDArray[np.float64]:
        """The default objective's target: the straight path, opened and closed by the brush
        (usually brush-feasible already, which makes the default solve quick)."""
        setup = self.setup
        straight = _baselines.straight_path(setup, self.instance.device)
        frame = fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1)
        return open_close_projection(frame, straight, setup.brush).astype(np.float64)

    def extract_design(self, model: pyo.ConcreteModel) -> JsonDict:
        return _model.extract_design(self.setup, model)

    def encode_design(self, model: pyo.ConcreteModel, design: JsonDict) -> Mapping[Any, float]:
        return _model.encode_design(self.setup, model, design)

    def evaluate(self, design: JsonDict) -> Evaluation:
        return _evaluate.evaluate(self.setup, design)

    def baselines(self) -> Mapping[str, Baseline]:
        """``straight-path`` and ``topology-optimization`` (``baseline_iterations``
        iterations); see :mod:`problems.photonics.baselines`."""
        return _baselines.baseline_designs(self.setup, self.instance.device, self.instance.baseline_iterations)

    def render(self, design: JsonDict) -> list[Artifact]:
        from problems.photonics.render import render

        return render(self.setup, design)

    def surrogate_interface(self) -> SurrogateInterface:
        """Per-pixel costs for SurCo-style proposers, the spec loss relaxed to densities with
        its adjoint gradient; see :mod:`problems.photonics.surrogate`."""
        from problems.photonics.surrogate import surrogate_interface

        return surrogate_interface(self.instance, self.setup)
