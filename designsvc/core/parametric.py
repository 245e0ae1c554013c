"""The parametric-response capability of a problem kind (what simulator-surrogate proposers
need, e.g. ``czp-search``).

Some kinds choose a vector of continuous parameters ``x`` (``P`` of them, physical units)
inside a polytope ``{lower <= x <= upper, A x <= b}`` (the kind's Pyomo model states the same
set) and judge a design by a simulated frequency response: a complex ``S11`` sampled at
``F`` frequencies, scored against pass bands (``|S11|`` at most a ceiling, in dB) and reject
bands (``|S11|`` at least a floor). A kind that supports it returns a
:class:`ParametricInterface` from :meth:`designsvc.core.problem.Problem.parametric_interface`:
the space, the target as band masks (so a proposer can write the evaluator's loss in its own
framework, e.g. torch, on predicted curves), the simulator, a projection onto the space, a
sampler of the space, the translation between vectors and designs, the ``fixed`` argument
that makes the model return a given design, and a data-set generator for training.
Everything is numpy; no torch (the kind's package must not import it).

Units: the parameters in the kind's units (``param_units``, e.g. mm), frequencies in Hz,
``|S11|`` in dB (``20 log10 |S11|``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict

__all__ = ["BoolArray", "ComplexArray", "FloatArray", "ParametricDataset", "ParametricInterface", "s11_db"]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]
BoolArray = npt.NDArray[np.bool_]


def s11_db(s11: npt.ArrayLike) -> FloatArray:
    """``20 log10 |s11|`` (dB), any shape; ``|s11| = 0`` gives -300 dB, not ``-inf``."""
    magnitude = np.abs(np.asarray(s11, dtype=np.complex128))
    return np.asarray(20.0 * np.log10(np.maximum(magnitude, 1e-15)), dtype=np.float64)


@dataclass(frozen=True)
class ParametricDataset:
    """Simulated designs for training a surrogate. Shapes: ``params`` (N, P) in the kind's
    units, ``freqs_hz`` (F,), ``s11`` (N, F) complex, ``lower``/``upper`` (P,) the box the
    designs were sampled in (unit coordinates ``(params - lower) / (upper - lower)`` refer to
    it); ``space`` names that box (``"family"``: the kind's default space of this family,
    ``"instance"``: the instance's own); ``simulated`` and ``cache_hits`` count how the
    ``N`` rows were obtained (simulations run now, results read from a cache)."""

    family: str
    param_names: tuple[str, ...]
    params: FloatArray
    freqs_hz: FloatArray
    s11: ComplexArray
    lower: FloatArray
    upper: FloatArray
    space: str
    reference_impedance_ohm: float
    simulated: int = 0
    cache_hits: int = 0
    description: JsonDict = field(default_factory=dict)

    @property
    def unit_params(self) -> FloatArray:
        """``(N, P)`` in ``[0, 1]`` (the box ``lower``-``upper``)."""
        span = np.maximum(self.upper - self.lower, 1e-12)
        return np.clip((self.params - self.lower) / span, 0.0, 1.0)


@dataclass(frozen=True)
class ParametricInterface:
    """One instance's parametric view (``P`` parameters, ``F`` frequencies, ``M`` linear
    rules, ``B`` pass bands, ``R`` reject bands).

    - ``family``: the kind's name of this design family (a checkpoint trained on another
      family is refused); ``param_names`` (P,) and ``param_units`` (e.g. ``"mm"``).
    - ``lower``, ``upper``: (P,) the instance's bounds; ``rules_matrix`` (M, P) and
      ``rules_rhs`` (M,): the linear rules ``A x <= b``, all in the kind's units.
    - ``freqs_hz``: (F,) the instance's sweep; ``reference_impedance_ohm``.
    - ``pass_masks`` (B, F) bool and ``pass_ceilings_db`` (B,): in pass band ``k`` every
      sweep point ``f`` with ``pass_masks[k, f]`` must have ``|S11| <= pass_ceilings_db[k]``;
      ``reject_masks`` (R, F) and ``reject_floors_db`` (R,): ``|S11| >= reject_floors_db[k]``.
      :meth:`target_loss_db` is the kind's objective on a dB curve from these.
    - ``simulate(params)``: (N, P) -> (N, F) complex ``S11`` of each design, one simulation
      per row (rows the simulator refuses come back as NaN); the caller counts calls.
    - ``project(params)``: (P,) -> (P,) the design of the space nearest to ``params`` (the
      model's own projection), ``ValueError`` when the space is empty.
    - ``sample(n, seed)``: (n, P) designs drawn uniformly from the space.
    - ``design(params)``: the kind's JSON design of a (P,) vector; ``params_of(design)`` the
      inverse (``ValueError`` for a malformed design).
    - ``fixed_for(params)``: the ``fixed`` argument of ``Problem.build_model`` whose solve
      returns the design nearest to ``params`` (``params`` itself when it is in the space).
    - ``dataset(n, *, seed, workers, space="family", sweep="instance")``: ``n`` sampled
      designs simulated (in ``workers`` processes, cached where the kind caches) as a
      :class:`ParametricDataset`; ``space`` ``"family"`` samples the family's default design
      space (the instance's radius and the like kept), ``"instance"`` the instance's;
      ``sweep`` ``"instance"`` uses the instance's sweep, ``"family"`` the family's default.
    """

    family: str
    param_names: tuple[str, ...]
    param_units: str
    lower: FloatArray
    upper: FloatArray
    rules_matrix: FloatArray
    rules_rhs: FloatArray
    freqs_hz: FloatArray
    reference_impedance_ohm: float
    pass_masks: BoolArray
    pass_ceilings_db: FloatArray
    reject_masks: BoolArray
    reject_floors_db: FloatArray
    simulate: Callable[[FloatArray], ComplexArray]
    project: Callable[[FloatArray], FloatArray]
    sample: Callable[[int, int], FloatArray]
    design: Callable[[FloatArray], JsonDict]
    params_of: Callable[[JsonDict], FloatArray]
    fixed_for: Callable[[FloatArray], JsonDict]
    dataset: Callable[..., ParametricDataset]

    def __post_init__(self) -> None:
        p, f = len(self.param_names), int(np.asarray(self.freqs_hz).size)
        m = int(np.asarray(self.rules_rhs).size)
        b, r = int(np.asarray(self.pass_ceilings_db).size), int(np.asarray(self.reject_floors_db).size)
        checks = [
            ("lower", self.lower.shape, (p,)),
            ("upper", self.upper.shape, (p,)),
            ("rules_matrix", self.rules_matrix.shape, (m, p)),
            ("freqs_hz", self.freqs_hz.shape, (f,)),
            ("pass_masks", self.pass_masks.shape, (b, f)),
            ("reject_masks", self.reject_masks.shape, (r, f)),
        ]
        for name, found, wanted in checks:
            if tuple(found) != wanted:
                raise ValueError(f"ParametricInterface.{name} has shape {tuple(found)}, expected {wanted}")
        if b < 1:
            raise ValueError("ParametricInterface needs at least one pass band")
        if (self.pass_masks.sum(axis=1) < 1).any() or (r and (self.reject_masks.sum(axis=1) < 1).any()):
            raise ValueError("ParametricInterface: every band must hold at least one sweep point")

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def to_unit(self, params: npt.ArrayLike) -> FloatArray:
        """``(params - lower) / (upper - lower)``, any leading shape."""
        return np.asarray((np.asarray(params, dtype=np.float64) - self.lower) / self.span, dtype=np.float64)

    def from_unit(self, unit: npt.ArrayLike) -> FloatArray:
        return np.asarray(self.lower + np.asarray(unit, dtype=np.float64) * self.span, dtype=np.float64)

    @property
    def span(self) -> FloatArray:
        return np.asarray(np.maximum(self.upper - self.lower, 1e-12), dtype=np.float64)

    def contains(self, params: npt.ArrayLike, tol: float = 1e-6) -> BoolArray:
        """Whether each design ((P,) or (N, P)) meets the bounds and rules within ``tol``."""
        x = np.atleast_2d(np.asarray(params, dtype=np.float64))
        inside = (x >= self.lower - tol).all(axis=1) & (x <= self.upper + tol).all(axis=1)
        if self.rules_rhs.size:
            inside &= (x @ self.rules_matrix.T <= self.rules_rhs + tol).all(axis=1)
        return np.asarray(inside, dtype=np.bool_)

    def target_loss_db(self, db: npt.ArrayLike) -> FloatArray | float:
        """The target shortfall (dB, 0 when met) of ``|S11|`` curves ``db`` ((F,) -> float,
        (N, F) -> (N,)): per pass band the mean over its points of ``max(0, db - ceiling)``,
        per reject band the mean of ``max(0, floor - db)``, summed. On simulated curves it
        equals the kind's evaluator objective."""
        curves = np.asarray(db, dtype=np.float64)
        rows = np.atleast_2d(curves)
        total = np.zeros(rows.shape[0])
        for mask, ceiling in zip(self.pass_masks, self.pass_ceilings_db, strict=True):
            total += np.maximum(0.0, rows[:, mask] - ceiling).mean(axis=1)
        for mask, floor in zip(self.reject_masks, self.reject_floors_db, strict=True):
            total += np.maximum(0.0, floor - rows[:, mask]).mean(axis=1)
        return float(total[0]) if curves.ndim == 1 else total

    def worst_loss_db(self) -> float:
        """The loss of total reflection (``|S11| = 0 dB`` everywhere)."""
        return float(self.target_loss_db(np.zeros(self.freqs_hz.size)))
