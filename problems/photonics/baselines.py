"""Baselines of ``photonics@1``: the straight path (the access waveguides joined by plain
routing, an arc for the bend, no optimization) and density topology optimization (filter, projection, Adam on the
adjoint gradient; then thresholding), the standard way photonic devices are inverse
designed. Neither enforces the brush rule; the evaluator reports whether the result meets
it and the spec.

Topology optimization (:func:`topology_optimization`): a latent ``theta`` (``R x C``,
seeded start near 0.5) is smoothed by a conic filter of the brush's radius (pixels outside
the region count as their nearest region pixel), projected by ``tanh`` with a sharpness
``beta`` that doubles from 1 up to 64 over the run, simulated (ceviche, autograd's reverse
mode gives the adjoint gradient) and scored by the spec loss (:mod:`problems.photonics.evaluate`);
Adam (step 0.1) updates ``theta``. Each iteration costs one forward and one adjoint solve
per wavelength and excited port. The returned design thresholds the final density at 0.5.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict
from problems.photonics.devices import DeviceSetup
from problems.photonics.evaluate import design_from_solid, spec_loss, transmissions
from problems.photonics.schema import Device

__all__ = ["DEFAULT_ITERATIONS", "baseline_designs", "density_loss", "straight_path", "topology_optimization"]

DEFAULT_ITERATIONS = 50
"""Optimizer iterations (each one forward and one adjoint simulation) by default."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _entries(setup: DeviceSetup) -> dict[str, BoolArray]:
    """Where fixed solid touches each side of the design region: ``left``/``right`` over
    columns (y), ``bottom``/``top`` over rows (x)."""
    x0, y0, x1, y1 = setup.design_coords
    bg = setup.background > 0.5
    return {"left": bg[x0 - 1, y0:y1], "right": bg[x1, y0:y1], "bottom": bg[x0:x1, y0 - 1], "top": bg[x0:x1, y1]}


def straight_path(setup: DeviceSetup, device: Device) -> BoolArray:
    """The access waveguides joined through the design region by plain routing: a
    quarter-circle arc for the bend, a linear taper for the mode converter, two straight
    guides for the beam splitter, a Y (trunk, bar, two branches) for the WDM."""
    rows, cols = setup.design_shape
    sides = _entries(setup)
    solid = np.zeros((rows, cols), dtype=bool)
    left = np.flatnonzero(sides["left"])
    right = np.flatnonzero(sides["right"])
    bottom = np.flatnonzero(sides["bottom"])
    if device == Device.WAVEGUIDE_BEND and left.size and bottom.size:
        # A quarter ellipse (a circle for the standard bend) about the region's lower-left
        # corner, from the left guide's centre line to the bottom guide's, guide-wide.
        a, b = bottom.mean() + 0.5, left.mean() + 0.5
        r, c = np.mgrid[0:rows, 0:cols]
        radius = (a + b) / 2
        distance = np.hypot((r + 0.5) / a, (c + 0.5) / b) * radius
        solid = np.abs(distance - radius) <= (left.size + bottom.size) / 4
    elif device == Device.MODE_CONVERTER and left.size and right.size:
        for r in range(rows):
            t = r / max(rows - 1, 1)
            lo = round((1 - t) * left.min() + t * right.min())
            hi = round((1 - t) * left.max() + t * right.max())
            solid[r, lo : hi + 1] = True
    elif device == Device.BEAM_SPLITTER:
        solid[:, left] = True
        solid[:, right] = True
    elif left.size and right.size:
        width = left.size
        mid = rows // 2
        lo, hi = max(mid - width // 2, 0), min(mid + (width + 1) // 2, rows)
        solid[:hi, left] = True
        solid[lo:, right] = True
        solid[lo:hi, min(left.min(), right.min()) : max(left.max(), right.max()) + 1] = True
    return solid


def _conic_kernel(radius: float) -> FloatArray:
    reach = max(int(np.floor(radius)), 0)
    i, j = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    weights = np.maximum(0.0, 1.0 - np.sqrt(i**2 + j**2) / max(radius, 1e-9))
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def density_loss(setup: DeviceSetup) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """``density -> (spec loss, gradient)`` for an ``R x C`` density in [0, 1] (autograd
    through ceviche: one forward and one adjoint solve per wavelength and excited port)."""
    import autograd
    import autograd.numpy as npa

    def loss(density: FloatArray) -> FloatArray:
        sparams, _ = setup.model.simulate(density, excite_port_idxs=list(setup.excited), max_parallelizm=1)
        power = npa.abs(sparams) ** 2
        return spec_loss(setup.windows, transmissions(setup, power), npa)  # type: ignore[no-any-return]

    value_and_grad = autograd.value_and_grad(loss)

    def run(density: FloatArray) -> tuple[float, FloatArray]:
        value, grad = value_and_grad(np.asarray(density, dtype=np.float64))
        return float(value), np.asarray(grad, dtype=np.float64)

    return run


def topology_optimization(
    setup: DeviceSetup, seed: int, *, iterations: int = DEFAULT_ITERATIONS, step: float = 0.1
) -> BoolArray:
    """Density topology optimization (see the module docstring); the thresholded density."""
    return _topology_optimization(setup, seed, iterations, step).copy()


@functools.lru_cache(maxsize=8)
def _topology_optimization(setup: DeviceSetup, seed: int, iterations: int, step: float) -> BoolArray:
    import autograd
    import autograd.numpy as npa

    rows, cols = setup.design_shape
    kernel = _conic_kernel(max(setup.brush_px / 2, 1.0))
    reach = kernel.shape[0] // 2
    offsets = [
        (i, j, float(kernel[i, j])) for i in range(kernel.shape[0]) for j in range(kernel.shape[1]) if kernel[i, j]
    ]

    edge_rows = np.clip(np.arange(-reach, rows + reach), 0, rows - 1)
    edge_cols = np.clip(np.arange(-reach, cols + reach), 0, cols - 1)

    def density_of(theta: FloatArray, beta: float) -> FloatArray:
        padded = theta[edge_rows][:, edge_cols]
        filtered = sum(w * padded[i : i + rows, j : j + cols] for i, j, w in offsets)
        eta = 0.5
        numerator = npa.tanh(beta * eta) + npa.tanh(beta * (filtered - eta))
        return numerator / (npa.tanh(beta * eta) + npa.tanh(beta * (1 - eta)))  # type: ignore[no-any-return]

    def loss(theta: FloatArray, beta: float) -> FloatArray:
        density = density_of(theta, beta)
        sparams, _ = setup.model.simulate(density, excite_port_idxs=list(setup.excited), max_parallelizm=1)
        return spec_loss(setup.windows, transmissions(setup, npa.abs(sparams) ** 2), npa)  # type: ignore[no-any-return]

    grad = autograd.grad(loss)
    rng = np.random.default_rng(seed)
    theta = 0.5 + 0.05 * rng.standard_normal((rows, cols))
    first, second = np.zeros_like(theta), np.zeros_like(theta)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, iterations + 1):
        beta = float(min(2.0 ** (6 * t / max(iterations, 1)), 64.0))
        g = np.asarray(grad(theta, beta), dtype=np.float64)
        first = b1 * first + (1 - b1) * g
        second = b2 * second + (1 - b2) * g**2
        theta = theta - step * (first / (1 - b1**t)) / (np.sqrt(second / (1 - b2**t)) + eps)
    final = np.asarray(density_of(theta, 64.0), dtype=np.float64)
    return np.asarray(final > 0.5, dtype=bool)


def baseline_designs(setup: DeviceSetup, device: Device, iterations: int) -> dict[str, Callable[[int], JsonDict]]:
    """The named baselines: ``straight-path`` and ``topology-optimization``."""
    return {
        "straight-path": lambda seed: design_from_solid(straight_path(setup, device)),
        "topology-optimization": lambda seed: design_from_solid(
            topology_optimization(setup, seed, iterations=iterations)
        ),
    }
