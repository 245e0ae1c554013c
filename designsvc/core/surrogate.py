"""The linear-surrogate capability of a problem kind (what SurCo-style proposers need).

SurCo (Ferber et al., ICML 2023) learns a cost matrix ``c`` such that the solver's answer
``x*(c) = argmin_{x in Omega} <c, x>`` (the kind's own feasible set ``Omega``, a MILP the
registered solver finalizes) is good for the kind's true, nonlinear objective ``f``. A kind
that supports it returns a :class:`SurrogateInterface` from
:meth:`designsvc.core.problem.Problem.surrogate_interface`: the shape of ``c``, features of
its rows and columns for a learned prior, the translation between designs and 0/1 decision
matrices, the ``fixed`` argument of ``build_model`` that installs ``c``, and ``f`` extended
to fractional decisions with its gradient (so gradient estimators through the solver have a
``df/dx``). Everything is numpy; no torch (the kind's package must not import it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict

__all__ = ["FloatArray", "RelaxedObjective", "SurrogateInterface"]

FloatArray = npt.NDArray[np.float64]

RelaxedObjective = Callable[..., tuple[float, FloatArray]]
"""``relaxed_objective(x, *, temperature=0.0) -> (value, gradient)``, see
:class:`SurrogateInterface`."""


@dataclass(frozen=True)
class SurrogateInterface:
    """One instance's linear-surrogate view (``R`` rows x ``C`` columns, e.g. tables x
    devices).

    - ``shape``: ``(R, C)``, the shape of cost matrices and decision matrices.
    - ``features``: ``(R, F)`` float array, one scale-free row of features per row of ``c``
      (a learned prior maps them to costs; it must not depend on the order of the rows).
    - ``column_features``: ``(C, G)`` float array, scale-free features per column.
    - ``context``: ``(K,)`` float array, scale-free features of the whole instance.
    - ``feature_names``, ``column_feature_names``, ``context_names``: the names of those
      features, in order (a checkpoint trained on other features is refused by name).
    - ``initial_costs``: ``(R, C)``, the kind's own additive costs (the usual start of
      SurCo-zero), in the kind's units.
    - ``decision(design)``: the ``(R, C)`` 0/1 matrix of a design (rows left unassigned are
      all zero); ``ValueError`` for a design that is not of the kind's form.
    - ``design(x)``: the design of an ``(R, C)`` matrix, each row taking its largest entry
      when that entry is above 0.5 (else the row is left unassigned).
    - ``costs_fixed(c)``: the ``fixed`` argument of ``Problem.build_model`` that makes
      ``<c, x>`` the model's objective (``c`` of shape ``(R, C)``, finite).
    - ``relaxed_objective(x, *, temperature=0.0)``: ``(value, gradient)`` of the true
      objective extended to ``x`` in ``[0, 1]^(R x C)``; at 0/1 matrices of feasible designs
      ``value`` equals ``Problem.evaluate(...).objective``; ``gradient`` has shape
      ``(R, C)``. ``temperature`` (> 0, in the objective's units) may smooth a maximum in
      the objective; the kind documents how (0: no smoothing, a subgradient at kinks).

    Optional (default None / empty; kinds whose inner solves are quick leave them out):

    - ``fast_argmin(c)``: ``(x, feasible)``, a fast approximation (no solver, milliseconds)
      of ``argmin_{x in Omega} <c, x>`` as an ``(R, C)`` 0/1 matrix, and whether ``x`` is in
      ``Omega`` by the kind's own independent check. For kinds whose exact model is too slow
      for an inner loop (e.g. ``photonics@1``): SurCo-style proposers then use it inside
      their loop and leave only the final solve to the exact model.
    - ``image``: ``(K, R, C)`` float array, scale-free per-entry channels of the instance
      (for a convolutional prior over the decision matrix), named by ``image_names``.
    """

    shape: tuple[int, int]
    features: FloatArray
    column_features: FloatArray
    context: FloatArray
    feature_names: tuple[str, ...]
    column_feature_names: tuple[str, ...]
    context_names: tuple[str, ...]
    initial_costs: FloatArray
    decision: Callable[[JsonDict], FloatArray]
    design: Callable[[FloatArray], JsonDict]
    costs_fixed: Callable[[FloatArray], JsonDict]
    relaxed_objective: RelaxedObjective
    fast_argmin: Callable[[FloatArray], tuple[FloatArray, bool]] | None = None
    image: FloatArray | None = None
    image_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rows, cols = self.shape
        checks = [
            ("features", self.features.shape, (rows, len(self.feature_names))),
            ("column_features", self.column_features.shape, (cols, len(self.column_feature_names))),
            ("context", self.context.shape, (len(self.context_names),)),
            ("initial_costs", self.initial_costs.shape, (rows, cols)),
        ]
        if self.image is not None:
            checks.append(("image", self.image.shape, (len(self.image_names), rows, cols)))
        for name, found, wanted in checks:
            if tuple(found) != wanted:
                raise ValueError(f"SurrogateInterface.{name} has shape {tuple(found)}, expected {wanted}")
