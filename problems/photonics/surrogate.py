"""The linear-surrogate view of ``photonics@1`` (:class:`SurrogateInterface`) for
SurCo-style proposers.

The decision matrix is the design itself: shape ``(R, C)`` = the design region in pixels
(rows along x, columns along y), ``x[r, c] = 1`` for a solid pixel; a cost matrix ``c`` of
the same shape is installed by ``{"costs": c}`` (the model minimizes ``sum c * x`` over
brush-feasible designs, :mod:`problems.photonics.model`).

Unlike the assignment-like kinds, a pixel is not "one choice per row": ``design(x)`` makes
each pixel solid iff its entry is above 0.5 (no row-wise argmax). This needs no change to
:class:`SurrogateInterface` (its shapes and callables fit), only this reading of
``design``.

``relaxed_objective(x)`` is the spec loss of the *density* ``x`` in ``[0, 1]^(R x C)``
(ceviche interpolates permittivity linearly between cladding and silicon) and its adjoint
gradient (autograd through ceviche's FDFD: one forward and one adjoint solve per wavelength
and excited port). At a 0/1 ``x`` it equals :func:`problems.photonics.evaluate.evaluate`'s
objective (the spec loss, whatever the brush rule). ``temperature`` is not used (the loss
has no maximum to smooth).

Features (scale-free): per row ``x_position`` (0 to 1) and ``straight_fraction`` (the row's
share of solid pixels in the straight-path design); per column ``y_position`` and
``straight_fraction``; context: a one-hot of the device, ``lightweight`` (1 at 40 nm), and
``brush_fraction`` (brush diameter over the region's smaller side).

Fast inner-loop oracle (``fast_argmin``): the exact model with arbitrary costs is far too
slow for a loop (no optimality proof in 30 s on 30 x 30 pixels, :mod:`problems.photonics.model`),
so ``fast_argmin(c)`` approximates ``argmin <c, x>`` over brush-feasible designs in well
under a millisecond: the unconstrained argmin (solid where ``c < 0``), then the brush-rule
repair :func:`~problems.photonics.brush.open_close_projection` (alternate opening of the
solid and of the void set by the brush, at most 8 rounds), and reports whether the result
passes the independent checker :func:`~problems.photonics.brush.check_brush` (measured: 48
of 50 random-cost repairs feasible after 4 rounds). It guarantees nothing by itself: a
proposer keeps only designs the checker passes, and the job's final solve is the exact
model (costs ``1 - 2 x_best``, i.e. the nearest feasible design to the best design met,
warm-started from it), so the returned design is brush-feasible either way.

Image (``image``, for a convolutional prior; channels over the design grid): ``straight``
(the straight-path design), ``entry_left`` / ``entry_right`` / ``entry_bottom`` /
``entry_top`` (1 in the rows or columns where the fixed waveguides touch that side of the
region: the fixed-pixel picture around the region, carried into it), ``x_position`` and
``y_position`` (0 to 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from designsvc.core.surrogate import FloatArray, SurrogateInterface
from designsvc.core.types import JsonDict
from problems.photonics.baselines import _entries, density_loss, straight_path
from problems.photonics.brush import check_brush, fixed_frame, open_close_projection
from problems.photonics.devices import DeviceSetup
from problems.photonics.evaluate import design_from_solid, parse_design
from problems.photonics.generate import DEVICES
from problems.photonics.schema import PhotonicsInstance, Resolution

__all__ = ["IMAGE_NAMES", "surrogate_interface"]

IMAGE_NAMES = ("straight", "entry_left", "entry_right", "entry_bottom", "entry_top", "x_position", "y_position")
FAST_ROUNDS = 8


def surrogate_interface(instance: PhotonicsInstance, setup: DeviceSetup) -> SurrogateInterface:
    """The surrogate view of ``instance`` (see the module docstring)."""
    rows, cols = setup.design_shape
    straight = straight_path(setup, instance.device).astype(np.float64)
    row_pos = np.linspace(0.0, 1.0, rows) if rows > 1 else np.zeros(1)
    col_pos = np.linspace(0.0, 1.0, cols) if cols > 1 else np.zeros(1)
    features = np.column_stack([row_pos, straight.mean(axis=1)])
    column_features = np.column_stack([col_pos, straight.mean(axis=0)])
    context = np.array(
        [
            *(1.0 if instance.device == d else 0.0 for d in DEVICES),
            1.0 if instance.resolution == Resolution.LIGHTWEIGHT else 0.0,
            setup.brush_px / min(rows, cols),
        ]
    )
    loss = density_loss(setup)

    def decision(design: JsonDict) -> FloatArray:
        solid, problems = parse_design(setup, design)
        if problems:
            raise ValueError(f"not a photonics@1 design: {problems[0]}")
        return solid.astype(np.float64)

    def design(x: FloatArray) -> JsonDict:
        matrix = np.asarray(x, dtype=np.float64)
        if matrix.shape != (rows, cols):
            raise ValueError(f"x has shape {matrix.shape}, expected {(rows, cols)}")
        return design_from_solid(matrix > 0.5)

    def costs_fixed(c: FloatArray) -> JsonDict:
        matrix = np.asarray(c, dtype=np.float64)
        if matrix.shape != (rows, cols) or not np.isfinite(matrix).all():
            raise ValueError(f"costs must be finite of shape {(rows, cols)}, got shape {matrix.shape}")
        return {"costs": matrix.tolist()}

    def relaxed_objective(x: FloatArray, *, temperature: float = 0.0, **_: Any) -> tuple[float, FloatArray]:
        del temperature
        density = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        if density.shape != (rows, cols):
            raise ValueError(f"x has shape {density.shape}, expected {(rows, cols)}")
        return loss(density)

    frame = fixed_frame(setup.background, setup.design_coords, setup.brush_px - 1)

    def fast_argmin(c: FloatArray) -> tuple[FloatArray, bool]:
        matrix = np.asarray(c, dtype=np.float64)
        if matrix.shape != (rows, cols):
            raise ValueError(f"costs have shape {matrix.shape}, expected {(rows, cols)}")
        solid = open_close_projection(frame, matrix < 0, setup.brush, rounds=FAST_ROUNDS)
        return solid.astype(np.float64), check_brush(frame, solid, setup.brush).feasible

    sides = _entries(setup)
    ones = np.ones((rows, cols))
    image = np.stack(
        [
            straight,
            ones * sides["left"][None, :],
            ones * sides["right"][None, :],
            ones * sides["bottom"][:, None],
            ones * sides["top"][:, None],
            ones * row_pos[:, None],
            ones * col_pos[None, :],
        ]
    ).astype(np.float64)

    return SurrogateInterface(
        shape=(rows, cols),
        features=features,
        column_features=column_features,
        context=context,
        feature_names=("x_position", "straight_fraction"),
        column_feature_names=("y_position", "straight_fraction"),
        context_names=(*(f"device_{d.value}" for d in DEVICES), "lightweight", "brush_fraction"),
        initial_costs=1.0 - 2.0 * straight,
        decision=decision,
        design=design,
        costs_fixed=costs_fixed,
        relaxed_objective=relaxed_objective,
        fast_argmin=fast_argmin,
        image=image,
        image_names=IMAGE_NAMES,
    )
