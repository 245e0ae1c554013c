"""The Pyomo model of ``photonics@1``: the exact feasible set of the brush rule over the
design grid (see :mod:`problems.photonics.brush` for the rule and the padded grid).

Variables (all binary), for an ``R x C`` design region and a ``d x d`` brush ``B``:

- ``x[p]``, ``p = r * C + c``: design pixel ``(r, c)`` is solid (1) or void (0);
- ``s[k]`` / ``v[k]``: placement ``k`` (one top-left corner ``q`` in padded coordinates whose
  brush pixels include at least one design pixel) is drawn in solid / in void. A solid
  placement is created only if every *fixed* pixel under it is solid, a void one only if
  every fixed pixel under it is void (placements reaching beyond the grid are never made).

Constraints (the rule, exactly):

- ``solid_inside[k]``: ``n_k * s[k] <= sum_{p under k} x[p]`` and ``void_inside[k]``:
  ``n_k * v[k] <= sum_{p under k} (1 - x[p])`` over the ``n_k`` design pixels under
  placement ``k`` (a drawn placement is wholly of its colour; for 0/1 values this is the
  same as ``s[k] <= x[p]`` for each ``p``, whose many more rows made HiGHS 4-6 times slower
  on the default objective here);
- ``solid_cover[p]``: ``x[p] <= sum_{k covers p} s[k]`` and ``void_cover[p]``:
  ``1 - x[p] <= sum_{k covers p} v[k]`` (every pixel is covered by a placement of its colour).

So a 0/1 ``x`` extends to a solution iff it obeys the brush rule: take ``s[k] = 1`` exactly
for the placements wholly solid (and ``v`` likewise); conversely the constraints force each
solid pixel under a drawn, wholly solid placement. The checker
(:func:`problems.photonics.brush.check_brush`) states the same rule with morphology and is
used by the evaluator; the tests compare the two. The all-void design region is always
feasible when the brush fits in the region (each pixel lies in a placement inside the
region), which the schema checks, so the model is never infeasible without pins.

Objective: ``minimize sum_p c[p] x[p]``. ``fixed={"costs": [[...]]}`` (``R`` rows of ``C``
finite numbers, the SurCo hook) gives ``c``; ``fixed={"target": [[0/1 ...]]}`` makes the
model the exact projection of the target onto the feasible set (``c = 1 - 2 * target``:
the fewest flipped pixels); by default the target is the straight-path heuristic
(:func:`problems.photonics.baselines.straight_path`) opened and closed by the brush, so the
default solve gives the nearest brush-feasible design to the plain waveguide routing. Integer costs keep CP-SAT
exact.

Speed (measured on a loaded 2-core machine, one thread): with the default objective the
lightweight builtins solve to optimality in 0.2-1.6 s with HiGHS (30 x 30 to 80 x 80
pixels, 3-pixel brush), 0.5-3.8 s with CP-SAT, and the 80 x 80 default-resolution bend
(8-pixel disk) in about 7 s with HiGHS. Arbitrary costs are much harder: on 30 x 30 pixels
with random costs neither HiGHS nor CP-SAT proves optimality in 30 s (every incumbent is
feasible, the gap stays large). A learned proposer's inner loop should therefore use a
fast heuristic (threshold the costs, then
:func:`problems.photonics.brush.open_close_projection`, checked by
:func:`~problems.photonics.brush.check_brush`) and this model, under a time limit, as the
final, exact step: whatever it returns is brush-feasible by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

import numpy as np
import numpy.typing as npt
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.gc_manager import PauseGC
from pyomo.core.expr.numeric_expr import LinearExpression

from designsvc.core.types import JsonDict
from problems.photonics.brush import check_brush, fixed_frame
from problems.photonics.devices import DeviceSetup
from problems.photonics.evaluate import design_from_solid, parse_design

__all__ = ["Placements", "build_model", "encode_design", "extract_design", "placements", "resolve_costs"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Placements:
    """The placements of the model: ``corners[k]`` (padded top-left corner), ``pixels[k]``
    the design pixel indices under it, and which colours it may take."""

    corners: list[tuple[int, int]]
    pixels: list[list[int]]
    solid_allowed: list[bool]
    void_allowed: list[bool]


def placements(setup: DeviceSetup) -> Placements:
    """Every placement touching the design region, with its design pixels and allowed colours."""
    rows, cols = setup.design_shape
    margin = setup.brush_px - 1
    frame = fixed_frame(setup.background, setup.design_coords, margin)
    offsets = list(zip(*np.nonzero(setup.brush), strict=True))
    corners: list[tuple[int, int]] = []
    pixels: list[list[int]] = []
    solid_allowed: list[bool] = []
    void_allowed: list[bool] = []
    for a in range(rows + margin):
        for b in range(cols + margin):
            inside: list[int] = []
            fixed_values: set[int] = set()
            for i, j in offsets:
                r, c = a + i - margin, b + j - margin
                if 0 <= r < rows and 0 <= c < cols:
                    inside.append(r * cols + c)
                else:
                    fixed_values.add(int(frame[a + i, b + j]))
            if not inside:
                continue
            corners.append((a, b))
            pixels.append(inside)
            solid_allowed.append(fixed_values <= {1})
            void_allowed.append(fixed_values <= {0})
    return Placements(corners, pixels, solid_allowed, void_allowed)


def resolve_costs(setup: DeviceSetup, fixed: Mapping[str, Any] | None, default_target: FloatArray) -> FloatArray:
    """The ``R x C`` cost matrix of ``fixed`` (``{"costs": ...}`` or ``{"target": ...}``,
    at most one; None: the default target). ``ValueError`` for another form."""
    if fixed is None:
        return 1.0 - 2.0 * default_target
    if not isinstance(fixed, Mapping):
        raise ValueError(f"fixed must be {{'costs': [[...]]}} or {{'target': [[0/1]]}}, got {type(fixed).__name__}")
    extra = sorted(str(k) for k in fixed if k not in ("costs", "target"))
    if extra:
        raise ValueError(f"unknown key(s) in fixed: {', '.join(map(repr, extra))}; expected 'costs' or 'target'")
    if "costs" in fixed and "target" in fixed:
        raise ValueError("fixed takes 'costs' or 'target', not both")
    if "costs" in fixed:
        return _matrix(setup, fixed["costs"], "costs", binary=False)
    if "target" in fixed:
        return 1.0 - 2.0 * _matrix(setup, fixed["target"], "target", binary=True)
    return 1.0 - 2.0 * default_target


def build_model(setup: DeviceSetup, costs: FloatArray, name: str = "photonics") -> pyo.ConcreteModel:
    """A fresh model of the brush rule over ``setup``'s design grid, minimizing ``costs . x``."""
    rows, cols = setup.design_shape
    n = rows * cols
    place = placements(setup)
    solid_ks = [k for k, ok in enumerate(place.solid_allowed) if ok]
    void_ks = [k for k, ok in enumerate(place.void_allowed) if ok]
    covers_solid: list[list[int]] = [[] for _ in range(n)]
    covers_void: list[list[int]] = [[] for _ in range(n)]
    for pos, k in enumerate(solid_ks):
        for p in place.pixels[k]:
            covers_solid[p].append(pos)
    for pos, k in enumerate(void_ks):
        for p in place.pixels[k]:
            covers_void[p].append(pos)
    solid_area = [len(place.pixels[k]) for k in solid_ks]
    void_area = [len(place.pixels[k]) for k in void_ks]
    with PauseGC():
        model = pyo.ConcreteModel(name=name)
        model.x = pyo.Var(range(n), domain=pyo.Binary)
        model.s = pyo.Var(range(len(solid_ks)), domain=pyo.Binary)
        model.v = pyo.Var(range(len(void_ks)), domain=pyo.Binary)
        x, s, v = model.x, model.s, model.v
        model.solid_inside = pyo.Constraint(
            range(len(solid_ks)),
            rule=lambda _, e: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[solid_area[e]] + [-1] * solid_area[e],
                    linear_vars=[s[e], *(x[p] for p in place.pixels[solid_ks[e]])],
                )
                <= 0
            ),
        )
        model.void_inside = pyo.Constraint(
            range(len(void_ks)),
            rule=lambda _, e: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[void_area[e]] + [1] * void_area[e],
                    linear_vars=[v[e], *(x[p] for p in place.pixels[void_ks[e]])],
                )
                <= void_area[e]
            ),
        )
        model.solid_cover = pyo.Constraint(
            range(n),
            rule=lambda _, p: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[1] + [-1] * len(covers_solid[p]),
                    linear_vars=[x[p], *(s[pos] for pos in covers_solid[p])],
                )
                <= 0
            ),
        )
        model.void_cover = pyo.Constraint(
            range(n),
            rule=lambda _, p: (
                LinearExpression(
                    constant=0,
                    linear_coefs=[1] + [1] * len(covers_void[p]),
                    linear_vars=[x[p], *(v[pos] for pos in covers_void[p])],
                )
                >= 1
            ),
        )
        flat = costs.ravel().tolist()
        model.objective = pyo.Objective(
            expr=LinearExpression(constant=0, linear_coefs=flat, linear_vars=[x[p] for p in range(n)]),
            sense=pyo.minimize,
        )
    model._photonics_solid_corners = [place.corners[k] for k in solid_ks]
    model._photonics_void_corners = [place.corners[k] for k in void_ks]
    return model


def extract_design(setup: DeviceSetup, model: pyo.ConcreteModel) -> JsonDict:
    """The design of the values loaded in ``model``: pixel solid iff ``x[p] > 0.5`` (unset: void)."""
    rows, cols = setup.design_shape
    values = np.zeros(rows * cols)
    for p, var in model.x.items():
        if var.value is not None:
            values[p] = var.value
    return design_from_solid(values.reshape(rows, cols) > 0.5)


def encode_design(setup: DeviceSetup, model: pyo.ConcreteModel, design: Mapping[str, Any]) -> Mapping[Any, float]:
    """Warm-start values of ``design`` in ``model``: ``x`` from the design, ``s`` / ``v`` 1
    exactly on the placements wholly solid / void (a solution when the design is feasible).
    ``ValueError`` for a malformed design."""
    solid, problems = parse_design(setup, design)
    if problems:
        raise ValueError(f"cannot encode the design: {problems[0]}")
    margin = setup.brush_px - 1
    check = check_brush(fixed_frame(setup.background, setup.design_coords, margin), solid, setup.brush)
    start = ComponentMap()
    for p, value in enumerate(solid.ravel().tolist()):
        start[model.x[p]] = 1.0 if value else 0.0
    for pos, (a, b) in enumerate(model._photonics_solid_corners):
        start[model.s[pos]] = 1.0 if check.solid_ok[a, b] else 0.0
    for pos, (a, b) in enumerate(model._photonics_void_corners):
        start[model.v[pos]] = 1.0 if check.void_ok[a, b] else 0.0
    return cast("Mapping[Any, float]", start)


def _matrix(setup: DeviceSetup, value: Any, key: str, *, binary: bool) -> FloatArray:
    rows, cols = setup.design_shape
    if not _is_list(value) or len(value) != rows:
        found = f"{len(value)} rows" if _is_list(value) else type(value).__name__
        raise ValueError(f"fixed['{key}'] must be a list of {rows} rows (the design region's x), got {found}")
    matrix = np.zeros((rows, cols))
    for r, row in enumerate(value):
        if not _is_list(row) or len(row) != cols:
            found = f"{len(row)} entries" if _is_list(row) else type(row).__name__
            raise ValueError(f"fixed['{key}'][{r}] must have {cols} entries (the design region's y), got {found}")
        for c, entry in enumerate(row):
            ok = not isinstance(entry, bool) and isinstance(entry, (int, float)) and math.isfinite(entry)
            if binary:
                ok = ok and entry in (0, 1)
            if not ok:
                wanted = "0 or 1" if binary else "a finite number"
                raise ValueError(f"fixed['{key}'][{r}][{c}] must be {wanted}, got {entry!r}")
            matrix[r, c] = float(entry)
    return matrix


def _is_list(value: Any) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))
