"""The linear form: ranges merged, sense handled, fixed variables folded, nonlinear refused."""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.common.collections import ComponentMap

from designsvc.core.errors import ModelNotSupportedError
from designsvc.core.linear import compile_linear, load_values


def test_ranged_constraint_is_one_row_with_both_bounds() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var([0, 1], within=pyo.Integers, bounds=(0, 5))
    m.r = pyo.Constraint(expr=pyo.inequality(1, m.x[0] + 2 * m.x[1], 4))
    m.e = pyo.Constraint(expr=m.x[0] - m.x[1] == 0)
    m.u = pyo.Constraint(expr=m.x[0] <= 3)
    m.obj = pyo.Objective(expr=m.x[0] + m.x[1] + 2)
    form = compile_linear(m)
    assert form.num_rows == 3
    assert form.row_names == ["r", "e", "u"]
    np.testing.assert_array_equal(form.row_lower, [1, 0, -math.inf])
    np.testing.assert_array_equal(form.row_upper, [4, 0, 3])
    np.testing.assert_array_equal(form.A.toarray(), [[1, 2], [1, -1], [1, 0]])
    assert form.offset == 2
    assert form.is_mip
    assert not form.maximize


def test_maximize_is_negated_into_a_minimization() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.obj = pyo.Objective(expr=3 * m.x + 1, sense=pyo.maximize)
    form = compile_linear(m)
    assert form.maximize
    np.testing.assert_array_equal(form.c, [-3])
    assert form.offset == -1
    assert form.model_objective(-4.0) == 4.0


def test_fixed_variables_become_constants() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.z = pyo.Var(bounds=(0, 10))
    m.z.fix(2)
    m.c = pyo.Constraint(expr=m.x + m.z >= 3)
    m.obj = pyo.Objective(expr=m.x + 5 * m.z)
    form = compile_linear(m)
    assert [v.name for v in form.columns] == ["x"]
    np.testing.assert_array_equal(form.row_lower, [1])
    assert form.offset == 10


@pytest.mark.parametrize("where", ["objective", "constraint"])
def test_quadratic_terms_are_refused(where: str) -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.y = pyo.Var(bounds=(0, 1))
    if where == "objective":
        m.obj = pyo.Objective(expr=m.x * m.y)
    else:
        m.c = pyo.Constraint(expr=m.x * m.x <= 1)
        m.obj = pyo.Objective(expr=m.x)
    with pytest.raises(ModelNotSupportedError, match="not linear"):
        compile_linear(m)


def test_two_objectives_are_refused() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.a = pyo.Objective(expr=m.x)
    m.b = pyo.Objective(expr=-m.x)
    with pytest.raises(ModelNotSupportedError, match="2 active objectives"):
        compile_linear(m)


def test_load_values_rounds_integer_columns_and_start_vector_maps_vars() -> None:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(within=pyo.Binary)
    m.y = pyo.Var(bounds=(0, 2))
    m.c = pyo.Constraint(expr=m.x + m.y <= 2)
    m.obj = pyo.Objective(expr=m.x + m.y)
    form = compile_linear(m)
    load_values(form, np.array([0.9999999, 0.5]))
    assert m.x.value == 1.0
    assert m.y.value == 0.5
    start = form.start_vector(ComponentMap([(m.y, 1.5)]))
    assert start is not None
    assert math.isnan(start[0])
    assert start[1] == 1.5
    assert form.start_vector(None) is None
