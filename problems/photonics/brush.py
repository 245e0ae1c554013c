"""The minimum-feature-size rule of ``photonics@1`` (the "brush" rule), checked fast with
morphology, independent of Pyomo and of any solver.

The rule. Let ``B`` be the brush (a ``d x d`` boolean mask, :func:`~problems.photonics.devices.brush_mask`)
and a *placement* ``q`` the set ``q + B`` of grid pixels under the brush with its top-left
corner at ``q``. A design is feasible iff

- every solid design pixel lies in some placement made wholly of solid pixels, and
- every void design pixel lies in some placement made wholly of void pixels,

i.e. the solid set equals its morphological opening by ``B`` and so does the void set (the
solid set's closing). Placements may reach out of the design region: there they see the
device's fixed pixels (the access waveguides are solid, the cladding void); pixels beyond
the simulation grid belong to neither colour, so no placement may cover them. Only design
pixels must be covered; the fixed pixels are the foundry's given layout.

Everything works on the *padded grid*: the design region with a margin of ``d - 1`` fixed
pixels on each side, values 1 (solid), 0 (void) or :data:`OUTSIDE`. Placements are indexed
by their top-left corner ``(a, b)`` in padded coordinates, ``0 <= a < R + d - 1``,
``0 <= b < C + d - 1`` for an ``R x C`` design region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["OUTSIDE", "BrushCheck", "check_brush", "fixed_frame", "open_close_projection", "padded_grid"]

OUTSIDE = -1
"""Padded-grid value of a pixel beyond the simulation grid."""

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def fixed_frame(background: npt.NDArray[np.float64], design_coords: tuple[int, int, int, int], margin: int) -> IntArray:
    """The padded grid of the device's fixed pixels around the design region (margin
    ``margin``), design pixels set to 0 (to be overwritten by a design)."""
    x0, y0, x1, y1 = design_coords
    rows, cols = x1 - x0 + 2 * margin, y1 - y0 + 2 * margin
    frame = np.full((rows, cols), OUTSIDE, dtype=np.int64)
    sx, sy = background.shape
    gx0, gy0 = x0 - margin, y0 - margin
    lo_x, lo_y = max(gx0, 0), max(gy0, 0)
    hi_x, hi_y = min(gx0 + rows, sx), min(gy0 + cols, sy)
    if hi_x > lo_x and hi_y > lo_y:
        frame[lo_x - gx0 : hi_x - gx0, lo_y - gy0 : hi_y - gy0] = (background[lo_x:hi_x, lo_y:hi_y] > 0.5).astype(
            np.int64
        )
    frame[margin : margin + x1 - x0, margin : margin + y1 - y0] = 0
    return frame


def padded_grid(frame: IntArray, solid: BoolArray, margin: int) -> IntArray:
    """``frame`` with the design region filled by ``solid`` (shape ``R x C``)."""
    grid = frame.copy()
    rows, cols = solid.shape
    grid[margin : margin + rows, margin : margin + cols] = solid.astype(np.int64)
    return grid


def _placements_all(grid_mask: BoolArray, brush: BoolArray) -> BoolArray:
    """``ok[a, b]``: every pixel of placement ``(a, b)`` is in ``grid_mask``."""
    d0, d1 = brush.shape
    windows = sliding_window_view(grid_mask, (d0, d1))
    return np.asarray(np.all(windows[:, :, brush], axis=-1), dtype=bool)


def _covered(ok: BoolArray, brush: BoolArray, shape: tuple[int, int]) -> BoolArray:
    """Pixels (padded grid of ``shape``) covered by some placement in ``ok``."""
    covered = np.zeros(shape, dtype=bool)
    na, nb = ok.shape
    for i, j in zip(*np.nonzero(brush), strict=True):
        covered[i : i + na, j : j + nb] |= ok
    return covered


@dataclass(frozen=True)
class BrushCheck:
    """The brush rule on one design: ``solid_ok`` / ``void_ok`` the placements wholly solid
    / void (padded coordinates), ``bad_solid`` / ``bad_void`` the design pixels (``R x C``)
    of that colour that no such placement covers."""

    solid_ok: BoolArray
    void_ok: BoolArray
    bad_solid: BoolArray
    bad_void: BoolArray

    @property
    def feasible(self) -> bool:
        return not (self.bad_solid.any() or self.bad_void.any())


def check_brush(frame: IntArray, solid: BoolArray, brush: BoolArray) -> BrushCheck:
    """Check the brush rule for the design ``solid`` (``R x C`` booleans) in ``frame`` (the
    padded fixed pixels, margin ``brush.shape[0] - 1``)."""
    margin = brush.shape[0] - 1
    grid = padded_grid(frame, solid, margin)
    solid_ok = _placements_all(grid == 1, brush)
    void_ok = _placements_all(grid == 0, brush)
    rows, cols = solid.shape
    inner = (slice(margin, margin + rows), slice(margin, margin + cols))
    solid_cover = _covered(solid_ok, brush, grid.shape)[inner]
    void_cover = _covered(void_ok, brush, grid.shape)[inner]
    return BrushCheck(
        solid_ok=solid_ok,
        void_ok=void_ok,
        bad_solid=np.asarray(solid & ~solid_cover, dtype=bool),
        bad_void=np.asarray(~solid & ~void_cover, dtype=bool),
    )


def open_close_projection(frame: IntArray, solid: BoolArray, brush: BoolArray, *, rounds: int = 4) -> BoolArray:
    """A fast heuristic repair (no guarantee): alternately open the solid set and close it
    (open the void set) by the brush, at most ``rounds`` times, stopping once the rule holds.
    The exact projection is the Pyomo model with ``fixed={"target": ...}``."""
    margin = brush.shape[0] - 1
    current = solid.astype(bool)
    rows, cols = current.shape
    inner = (slice(margin, margin + rows), slice(margin, margin + cols))
    for _ in range(rounds):
        grid = padded_grid(frame, current, margin)
        current = _covered(_placements_all(grid == 1, brush), brush, grid.shape)[inner]
        grid = padded_grid(frame, current, margin)
        current = ~_covered(_placements_all(grid == 0, brush), brush, grid.shape)[inner]
        if check_brush(frame, current, brush).feasible:
            break
    return np.asarray(current, dtype=bool)
