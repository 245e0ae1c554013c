"""The parametric wire-antenna families of ``antenna@1`` and their design spaces.

Every family is a planar wire antenna in the x-z plane (y = 0) standing on a perfect ground
plane at z = 0 and fed by a voltage source at the base of its first wire (tag 1, segment 1).
Parameters are lengths in **millimetres** (names end in ``_mm``).

``three-branch-monopole`` (10 parameters): a vertical trunk from the ground to ``z3_mm``;
three branches leave it along +x at heights ``z1_mm < z2_mm < z3_mm`` with arm lengths
``arm1_mm``, ``arm2_mm``, ``arm3_mm``. Branches 1 and 2 bend up at their arm ends by
``rise1_mm`` and ``rise2_mm``; branch 3 (the top one) bends down by ``drop3_mm`` and then
folds back toward the trunk by ``fold3_mm``.

``meander-monopole`` (13 parameters): a vertical feed of ``feed_mm``, then six horizontal
runs ``run1_mm`` ... ``run6_mm`` alternating +x, -x, +x, ... joined by vertical steps
``step1_mm`` ... ``step5_mm`` (upward), and a final vertical ``tip_mm`` at the end of run 6.

The design space (:class:`DesignSpace`) is a box (per-parameter bounds, within the family's
:data:`ALLOWED_RANGE_MM`) cut by **linear** rules ``lower <= sum_p coef_p * x_p <= upper``
(:class:`LinearRule`): every wire at least ``min_wire_mm`` long (5 wire radii by default),
wires that do not touch keep ``min_spacing_mm`` apart, and the antenna stays within the
bounding box (``max_height_mm`` above the ground, ``max_width_mm`` wide). For these
families the rules are exact: a design meeting them has no crossing or touching wires (the
proof per family is in the comments of :func:`_three_branch_rules` and
:func:`_meander_rules`). Everything here is plain numpy: no Pyomo, no NEC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALLOWED_RANGE_MM",
    "FAMILY_DEFAULTS",
    "DesignSpace",
    "Family",
    "FamilyDefaults",
    "LinearRule",
    "Wire",
    "design_space",
    "param_names",
    "wires",
]

FloatArray = npt.NDArray[np.float64]

ALLOWED_RANGE_MM: tuple[float, float] = (0.1, 500.0)
"""Every parameter of every family must have bounds within this range (mm)."""

MIN_WIRE_RADII = 5.0
"""Wires shorter than this many radii break NEC's thin-wire approximation."""


class Family(StrEnum):
    """The antenna families (stable lowercase JSON values)."""

    THREE_BRANCH = "three-branch-monopole"
    MEANDER = "meander-monopole"


_PARAMS: dict[Family, tuple[str, ...]] = {
    Family.THREE_BRANCH: (
        "z1_mm",
        "z2_mm",
        "z3_mm",
        "arm1_mm",
        "arm2_mm",
        "arm3_mm",
        "rise1_mm",
        "rise2_mm",
        "drop3_mm",
        "fold3_mm",
    ),
    Family.MEANDER: (
        "feed_mm",
        *(f"run{k}_mm" for k in range(1, 7)),
        *(f"step{k}_mm" for k in range(1, 6)),
        "tip_mm",
    ),
}


@dataclass(frozen=True)
class FamilyDefaults:
    """A family's default bounds (mm), bounding box (mm), wire radius and spacing (mm)."""

    bounds_mm: Mapping[str, tuple[float, float]]
    max_height_mm: float
    max_width_mm: float
    wire_radius_mm: float = 0.25
    min_spacing_mm: float = 1.5


FAMILY_DEFAULTS: Mapping[Family, FamilyDefaults] = {
    Family.THREE_BRANCH: FamilyDefaults(
        bounds_mm={
            "z1_mm": (2.0, 14.0),
            "z2_mm": (5.0, 24.0),
            "z3_mm": (8.0, 32.0),
            "arm1_mm": (3.0, 30.0),
            "arm2_mm": (3.0, 30.0),
            "arm3_mm": (3.0, 30.0),
            "rise1_mm": (1.5, 12.0),
            "rise2_mm": (1.5, 12.0),
            "drop3_mm": (2.0, 16.0),
            "fold3_mm": (1.5, 25.0),
        },
        max_height_mm=32.0,
        max_width_mm=30.0,
    ),
    Family.MEANDER: FamilyDefaults(
        bounds_mm={
            "feed_mm": (2.0, 20.0),
            **{f"run{k}_mm": (2.0, 40.0) for k in range(1, 7)},
            **{f"step{k}_mm": (1.5, 8.0) for k in range(1, 6)},
            "tip_mm": (1.5, 20.0),
        },
        max_height_mm=50.0,
        max_width_mm=40.0,
    ),
}


def param_names(family: Family | str) -> tuple[str, ...]:
    """The parameter names of ``family``, in the order of every vector in this package."""
    return _PARAMS[Family(family)]


@dataclass(frozen=True)
class LinearRule:
    """``lower <= sum_p coefs[p] * x_p <= upper`` (mm); ``None`` is no bound. ``name`` is a
    stable identifier (Pyomo constraint index), ``description`` a human sentence."""

    name: str
    coefs: Mapping[str, float]
    lower: float | None
    upper: float | None
    description: str

    def value(self, params: Mapping[str, float]) -> float:
        """The rule's left-hand side at ``params``."""
        return float(sum(c * params[p] for p, c in self.coefs.items()))

    def violation(self, params: Mapping[str, float]) -> float:
        """How far ``params`` lie outside the rule (mm; 0 when it holds)."""
        value = self.value(params)
        below = 0.0 if self.lower is None else max(0.0, self.lower - value)
        above = 0.0 if self.upper is None else max(0.0, value - self.upper)
        return below + above


@dataclass(frozen=True)
class Wire:
    """One straight wire from ``start_mm`` to ``end_mm`` ((x, y, z), mm); ``label`` names it
    (``"arm2"``) and the parameter whose length it is, when one is (``"arm2_mm"``)."""

    label: str
    start_mm: tuple[float, float, float]
    end_mm: tuple[float, float, float]
    param: str | None = None

    @property
    def length_mm(self) -> float:
        return math.dist(self.start_mm, self.end_mm)


@dataclass(frozen=True)
class DesignSpace:
    """The feasible set of one family: ``bounds_mm`` per parameter (``names`` order) and the
    linear ``rules``; plus the wire radius, spacing and box it was built for.

    Matrix form (:meth:`matrices`): ``A x <= b`` over the parameter vector in ``names``
    order, every two-sided rule split in two rows; bounds are not in ``A``."""

    family: Family
    names: tuple[str, ...]
    bounds_mm: Mapping[str, tuple[float, float]]
    rules: tuple[LinearRule, ...]
    wire_radius_mm: float
    min_spacing_mm: float
    max_height_mm: float
    max_width_mm: float
    _matrix_cache: dict[str, FloatArray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def lower(self) -> FloatArray:
        """Lower bounds (mm), shape (P,)."""
        return np.array([self.bounds_mm[n][0] for n in self.names], dtype=np.float64)

    @property
    def upper(self) -> FloatArray:
        """Upper bounds (mm), shape (P,)."""
        return np.array([self.bounds_mm[n][1] for n in self.names], dtype=np.float64)

    @property
    def box_x_mm(self) -> tuple[float, float]:
        """The bounding box's extent along x (mm): ``[0, W]`` for the three-branch
        monopole (arms go along +x), ``[-W/2, W/2]`` for the meander."""
        if self.family is Family.THREE_BRANCH:
            return (0.0, self.max_width_mm)
        return (-self.max_width_mm / 2, self.max_width_mm / 2)

    @property
    def min_wire_mm(self) -> float:
        """The shortest wire allowed: :data:`MIN_WIRE_RADII` wire radii."""
        return MIN_WIRE_RADII * self.wire_radius_mm

    def matrices(self) -> tuple[FloatArray, FloatArray]:
        """``(A, b)`` with ``A x <= b`` equivalent to the rules; shapes (R, P) and (R,)."""
        if "A" not in self._matrix_cache:
            index = {n: i for i, n in enumerate(self.names)}
            rows: list[FloatArray] = []
            rhs: list[float] = []
            for rule in self.rules:
                row = np.zeros(len(self.names))
                for p, c in rule.coefs.items():
                    row[index[p]] = c
                if rule.upper is not None:
                    rows.append(row)
                    rhs.append(rule.upper)
                if rule.lower is not None:
                    rows.append(-row)
                    rhs.append(-rule.lower)
            self._matrix_cache["A"] = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.names))
            self._matrix_cache["b"] = np.array(rhs, dtype=np.float64)
        return self._matrix_cache["A"], self._matrix_cache["b"]

    def vector(self, params: Mapping[str, float]) -> FloatArray:
        """``params`` as a (P,) vector in ``names`` order (KeyError for a missing name)."""
        return np.array([float(params[n]) for n in self.names], dtype=np.float64)

    def params(self, vector: Sequence[float] | FloatArray) -> dict[str, float]:
        """A (P,) vector as ``{name: value_mm}``."""
        return {n: float(v) for n, v in zip(self.names, np.asarray(vector, dtype=np.float64).tolist(), strict=True)}

    def to_unit(self, x: FloatArray) -> FloatArray:
        """Physical (..., P) -> unit coordinates in [0, 1] per bound (a fixed bound maps to 0)."""
        span = self.upper - self.lower
        return np.asarray((x - self.lower) / np.where(span > 0, span, 1.0), dtype=np.float64)

    def from_unit(self, u: FloatArray) -> FloatArray:
        """Unit coordinates (..., P) -> physical (mm)."""
        return np.asarray(self.lower + np.asarray(u) * (self.upper - self.lower), dtype=np.float64)

    def violations(self, params: Mapping[str, float], tol_mm: float = 1e-6) -> list[str]:
        """One human line per bound or rule that ``params`` break by more than ``tol_mm``."""
        lines: list[str] = []
        for n in self.names:
            lo, hi = self.bounds_mm[n]
            v = params[n]
            if v < lo - tol_mm or v > hi + tol_mm:
                lines.append(f"{n} = {v:g} mm is outside its bounds [{lo:g}, {hi:g}] mm")
        for rule in self.rules:
            excess = rule.violation(params)
            if excess > tol_mm:
                lines.append(f"{rule.name}: {rule.description} (violated by {excess:.4g} mm)")
        return lines

    def contains(self, x: FloatArray, tol_mm: float = 1e-6) -> npt.NDArray[np.bool_]:
        """Row-wise membership of physical points ``x`` (N, P) (or (P,)) in the space."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        A, b = self.matrices()
        inside = np.all((x >= self.lower - tol_mm) & (x <= self.upper + tol_mm), axis=1)
        if A.shape[0]:
            inside &= np.all(x @ A.T <= b + tol_mm, axis=1)
        return np.asarray(inside, dtype=np.bool_)


def design_space(
    family: Family | str,
    *,
    bounds_mm: Mapping[str, tuple[float, float]] | None = None,
    wire_radius_mm: float | None = None,
    min_spacing_mm: float | None = None,
    max_height_mm: float | None = None,
    max_width_mm: float | None = None,
) -> DesignSpace:
    """The design space of ``family``; every argument left out takes the family's default
    (:data:`FAMILY_DEFAULTS`); ``bounds_mm`` overrides some parameters' bounds. No checks
    here beyond names (KeyError for an unknown parameter): the schema checks ranges."""
    fam = Family(family)
    defaults = FAMILY_DEFAULTS[fam]
    bounds = dict(defaults.bounds_mm)
    for name, pair in (bounds_mm or {}).items():
        if name not in bounds:
            raise KeyError(name)
        bounds[name] = (float(pair[0]), float(pair[1]))
    radius = defaults.wire_radius_mm if wire_radius_mm is None else wire_radius_mm
    spacing = defaults.min_spacing_mm if min_spacing_mm is None else min_spacing_mm
    height = defaults.max_height_mm if max_height_mm is None else max_height_mm
    width = defaults.max_width_mm if max_width_mm is None else max_width_mm
    wire_min = MIN_WIRE_RADII * radius
    builder = _three_branch_rules if fam is Family.THREE_BRANCH else _meander_rules
    rules = builder(wire_min, spacing, height, width)
    return DesignSpace(
        family=fam,
        names=param_names(fam),
        bounds_mm=bounds,
        rules=tuple(rules),
        wire_radius_mm=radius,
        min_spacing_mm=spacing,
        max_height_mm=height,
        max_width_mm=width,
    )


def _rule(name: str, coefs: Mapping[str, float], lower: float | None, upper: float | None, text: str) -> LinearRule:
    return LinearRule(name=name, coefs=dict(coefs), lower=lower, upper=upper, description=text)


def _three_branch_rules(wire: float, spacing: float, height: float, width: float) -> list[LinearRule]:
    # Why these rules suffice (s = spacing): the trunk is x = 0; branch i's arm lies at
    # z = z_i for x in [0, arm_i] and its bend at x = arm_i >= s. Rise 1 spans
    # z in [z1, z1 + rise1] <= z2 - s, below everything of branches 2 and 3. Rise 2 spans
    # [z2, z2 + rise2] <= z3 - drop3 - s, below drop 3 and fold 3 (both at z >= z3 - drop3).
    # Fold 3 runs at z3 - drop3 >= drop3's clearance s below arm 3 and ends at
    # x = arm3 - fold3 >= s, clear of the trunk. Wires not touching are thus >= s apart.
    both = max(wire, spacing)
    rules = [
        _rule("feed_length", {"z1_mm": 1}, wire, None, f"the feed wire z1_mm must be at least {wire:g} mm long"),
        _rule(
            "trunk_spacing_12",
            {"z2_mm": 1, "z1_mm": -1},
            both,
            None,
            f"branches 1 and 2 must leave the trunk at least {both:g} mm apart (z2_mm - z1_mm)",
        ),
        _rule(
            "trunk_spacing_23",
            {"z3_mm": 1, "z2_mm": -1},
            both,
            None,
            f"branches 2 and 3 must leave the trunk at least {both:g} mm apart (z3_mm - z2_mm)",
        ),
    ]
    for k in (1, 2, 3):
        rules.append(
            _rule(
                f"arm{k}_length",
                {f"arm{k}_mm": 1},
                both,
                width,
                f"arm{k}_mm must be at least {both:g} mm (wire length and clearance from the trunk) and at most "
                f"the box width {width:g} mm",
            )
        )
    for name in ("rise1_mm", "rise2_mm", "fold3_mm"):
        rules.append(
            _rule(f"{name.removesuffix('_mm')}_length", {name: 1}, wire, None, f"{name} must be at least {wire:g} mm")
        )
    rules += [
        _rule(
            "drop3_length",
            {"drop3_mm": 1},
            both,
            None,
            f"drop3_mm must be at least {both:g} mm (wire length and fold 3's clearance from arm 3)",
        ),
        _rule(
            "spacing_rise1_arm2",
            {"z1_mm": 1, "rise1_mm": 1, "z2_mm": -1},
            None,
            -spacing,
            f"the top of rise 1 (z1_mm + rise1_mm) must stay {spacing:g} mm below arm 2 (z2_mm)",
        ),
        _rule(
            "spacing_rise2_fold3",
            {"z2_mm": 1, "rise2_mm": 1, "z3_mm": -1, "drop3_mm": 1},
            None,
            -spacing,
            f"the top of rise 2 (z2_mm + rise2_mm) must stay {spacing:g} mm below fold 3 (z3_mm - drop3_mm)",
        ),
        _rule(
            "spacing_fold3_trunk",
            {"arm3_mm": 1, "fold3_mm": -1},
            spacing,
            None,
            f"fold 3 must end at least {spacing:g} mm from the trunk (arm3_mm - fold3_mm)",
        ),
        _rule(
            "box_height", {"z3_mm": 1}, None, height, f"the top (z3_mm) must stay within the box height {height:g} mm"
        ),
    ]
    return rules


def _meander_rules(wire: float, spacing: float, height: float, width: float) -> list[LinearRule]:
    # Why these rules suffice (s = spacing): runs lie at distinct heights, consecutive ones
    # step_k >= s apart; a vertical step between runs k and k+1 sits at x_k and the next
    # one at x_{k+1} = x_k -+ run_{k+1} (>= s away), the one after that >= s higher; the
    # feed lies below every run (run 2 passes >= step1 >= s above it); the tip rises above
    # run 6, >= step5 above run 5. Wires not touching are thus >= s apart.
    both = max(wire, spacing)
    half = width / 2.0
    rules = [_rule("feed_length", {"feed_mm": 1}, wire, None, f"feed_mm must be at least {wire:g} mm long")]
    for k in range(1, 7):
        rules.append(
            _rule(
                f"run{k}_length",
                {f"run{k}_mm": 1},
                both,
                None,
                f"run{k}_mm must be at least {both:g} mm (wire length and clearance between the steps it joins)",
            )
        )
    for k in range(1, 6):
        rules.append(
            _rule(
                f"step{k}_length",
                {f"step{k}_mm": 1},
                both,
                None,
                f"step{k}_mm must be at least {both:g} mm (wire length and clearance between runs {k} and {k + 1})",
            )
        )
    rules.append(_rule("tip_length", {"tip_mm": 1}, wire, None, f"tip_mm must be at least {wire:g} mm long"))
    for k in range(1, 7):
        coefs = {f"run{i}_mm": (1.0 if i % 2 else -1.0) for i in range(1, k + 1)}
        rules.append(
            _rule(
                f"box_x{k}",
                coefs,
                -half,
                half,
                f"the end of run {k} (x = run1_mm - run2_mm + ...) must stay within +-{half:g} mm of the feed "
                f"(box width {width:g} mm)",
            )
        )
    rules.append(
        _rule(
            "box_height",
            {"feed_mm": 1, **{f"step{k}_mm": 1 for k in range(1, 6)}, "tip_mm": 1},
            None,
            height,
            f"the top (feed_mm + step1_mm + ... + step5_mm + tip_mm) must stay within the box height {height:g} mm",
        )
    )
    return rules


def wires(family: Family | str, params: Mapping[str, float]) -> list[Wire]:
    """The wires of a design, the feed wire (from the ground at the origin) first, in mm.
    Junctions share exact end points. No checks: pass a design inside its space."""
    fam = Family(family)
    p = {k: float(v) for k, v in params.items()}
    if fam is Family.THREE_BRANCH:
        z1, z2, z3 = p["z1_mm"], p["z2_mm"], p["z3_mm"]
        a1, a2, a3 = p["arm1_mm"], p["arm2_mm"], p["arm3_mm"]
        r1, r2, d3, f3 = p["rise1_mm"], p["rise2_mm"], p["drop3_mm"], p["fold3_mm"]
        return [
            Wire("feed", (0.0, 0.0, 0.0), (0.0, 0.0, z1), "z1_mm"),
            Wire("trunk12", (0.0, 0.0, z1), (0.0, 0.0, z2)),
            Wire("trunk23", (0.0, 0.0, z2), (0.0, 0.0, z3)),
            Wire("arm1", (0.0, 0.0, z1), (a1, 0.0, z1), "arm1_mm"),
            Wire("rise1", (a1, 0.0, z1), (a1, 0.0, z1 + r1), "rise1_mm"),
            Wire("arm2", (0.0, 0.0, z2), (a2, 0.0, z2), "arm2_mm"),
            Wire("rise2", (a2, 0.0, z2), (a2, 0.0, z2 + r2), "rise2_mm"),
            Wire("arm3", (0.0, 0.0, z3), (a3, 0.0, z3), "arm3_mm"),
            Wire("drop3", (a3, 0.0, z3), (a3, 0.0, z3 - d3), "drop3_mm"),
            Wire("fold3", (a3, 0.0, z3 - d3), (a3 - f3, 0.0, z3 - d3), "fold3_mm"),
        ]
    out = [Wire("feed", (0.0, 0.0, 0.0), (0.0, 0.0, p["feed_mm"]), "feed_mm")]
    x, z = 0.0, p["feed_mm"]
    for k in range(1, 7):
        nx = x + (p[f"run{k}_mm"] if k % 2 else -p[f"run{k}_mm"])
        out.append(Wire(f"run{k}", (x, 0.0, z), (nx, 0.0, z), f"run{k}_mm"))
        x = nx
        rise = p[f"step{k}_mm"] if k < 6 else p["tip_mm"]
        label = f"step{k}" if k < 6 else "tip"
        out.append(Wire(label, (x, 0.0, z), (x, 0.0, z + rise), f"{label}_mm"))
        z += rise
    return out
