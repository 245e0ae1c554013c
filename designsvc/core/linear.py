"""The linear form of a Pyomo model: the one reduction every built-in solver starts from.

A Pyomo model is compiled once (Pyomo's ``LinearStandardFormCompiler``, sparse and fast)
into :class:`LinearForm`: columns with bounds and integrality, rows ``row_lower <= A x <=
row_upper``, and a *minimized* objective ``c x + offset``. Solvers translate this form into
their backend's model, so variable order, sense handling and solution loading are done once,
here, as in cvxpy's reduction chain. Nonlinear terms raise :class:`ModelNotSupportedError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyomo.environ as pyo
from pyomo.common.errors import PyomoException
from pyomo.core.base.var import VarData
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
from scipy import sparse

from designsvc.core.errors import ModelNotSupportedError

__all__ = ["LinearForm", "compile_linear", "load_values"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LinearForm:
    """``minimize c @ x + offset`` s.t. ``row_lower <= A @ x <= row_upper``,
    ``col_lower <= x <= col_upper``, ``x[j]`` integral where ``integer[j]``.

    Infinite bounds are ``±inf``. ``maximize`` records the model's own sense: the form always
    minimizes, so a maximizing model's objective is ``-(c @ x + offset)``. ``columns[j]`` is
    the Pyomo variable of column ``j``; ``row_names[i]`` names row ``i`` for error messages.
    """

    A: sparse.csr_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    c: FloatArray
    offset: float
    col_lower: FloatArray
    col_upper: FloatArray
    integer: npt.NDArray[np.bool_]
    columns: Sequence[VarData]
    row_names: Sequence[str]
    maximize: bool
    has_objective: bool

    @property
    def num_cols(self) -> int:
        return len(self.columns)

    @property
    def num_rows(self) -> int:
        return int(self.A.shape[0])

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())

    def model_objective(self, minimized_value: float) -> float:
        """Convert a value of the minimized form back to the model's own sense."""
        return -minimized_value if self.maximize else minimized_value

    def column_name(self, j: int) -> str:
        return str(self.columns[j].name)

    def start_vector(self, warm_start: Mapping[Any, float] | None) -> FloatArray | None:
        """Warm-start values by column (NaN where not given), or None without a warm start.

        ``warm_start`` maps Pyomo variables (VarData) to values; unknown variables (fixed or
        unused in the model) are ignored.
        """
        if not warm_start:
            return None
        index = {id(v): j for j, v in enumerate(self.columns)}
        start = np.full(self.num_cols, np.nan)
        for var, value in warm_start.items():
            j = index.get(id(var))
            if j is not None and value is not None:
                start[j] = float(value)
        return start


def compile_linear(model: pyo.ConcreteModel) -> LinearForm:
    """Compile the active part of ``model`` into a :class:`LinearForm`.

    Raises :class:`ModelNotSupportedError` for nonlinear (including quadratic) terms or more
    than one active objective. Fixed variables are folded into constants.
    """
    objectives = list(model.component_data_objects(pyo.Objective, active=True))
    if len(objectives) > 1:
        raise ModelNotSupportedError(
            f"the model has {len(objectives)} active objectives; exactly one (or none) is allowed"
        )
    try:
        info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    except PyomoException as exc:
        raise ModelNotSupportedError(f"the model is not linear: {exc}") from exc
    except ValueError as exc:  # pragma: no cover - Pyomo raises PyomoException subclasses
        raise ModelNotSupportedError(f"the model cannot be compiled: {exc}") from exc

    columns: list[VarData] = list(info.columns)
    n = len(columns)
    maximize = False
    has_objective = bool(info.objectives)
    if has_objective:
        c = np.asarray(info.c.toarray()[0], dtype=np.float64)
        offset = float(info.c_offset[0])
        maximize = info.objectives[0].sense == pyo.maximize
        if maximize:
            c, offset = -c, -offset
    else:
        c, offset = np.zeros(n), 0.0

    A_rows = sparse.csr_matrix(info.A, dtype=np.float64)
    rhs = np.asarray(info.rhs, dtype=np.float64)
    # Pyomo's mixed form splits a ranged constraint into a <= row and a >= row; merge them.
    first_row: dict[int, int] = {}
    keep: list[int] = []
    lower: list[float] = []
    upper: list[float] = []
    names: list[str] = []
    for i, entry in enumerate(info.rows):
        key = id(entry.constraint)
        kind = entry.bound_type
        r = first_row.get(key)
        if r is None:
            first_row[key] = len(keep)
            keep.append(i)
            lower.append(-math.inf)
            upper.append(math.inf)
            names.append(str(entry.constraint.name))
            r = len(keep) - 1
        if kind >= 0:
            upper[r] = rhs[i]
        if kind <= 0:
            lower[r] = rhs[i]
    A = A_rows[keep] if len(keep) != A_rows.shape[0] else A_rows

    col_lower = np.empty(n)
    col_upper = np.empty(n)
    integer = np.zeros(n, dtype=bool)
    for j, var in enumerate(columns):
        lb, ub = var.bounds
        col_lower[j] = -math.inf if lb is None else float(lb)
        col_upper[j] = math.inf if ub is None else float(ub)
        integer[j] = var.is_integer()
        if not (var.is_continuous() or var.is_integer()):
            raise ModelNotSupportedError(f"variable {var.name} has an unsupported domain")

    return LinearForm(
        A=sparse.csr_matrix(A),
        row_lower=np.asarray(lower, dtype=np.float64),
        row_upper=np.asarray(upper, dtype=np.float64),
        c=c,
        offset=offset,
        col_lower=col_lower,
        col_upper=col_upper,
        integer=integer,
        columns=columns,
        row_names=names,
        maximize=maximize,
        has_objective=has_objective,
    )


def load_values(form: LinearForm, values: Sequence[float] | FloatArray) -> None:
    """Load a solution vector (by column) into the model's variables.

    Integer columns are rounded to the nearest integer, as backends return values within
    their integrality tolerance; values are written with ``skip_validation`` so a value a
    hair outside a bound (within the backend's feasibility tolerance) is kept as returned.
    """
    for j, var in enumerate(form.columns):
        value = float(values[j])
        if form.integer[j]:
            value = float(round(value))
        var.set_value(value, skip_validation=True)
