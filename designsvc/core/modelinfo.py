"""Facts about a Pyomo model that the service reports (``designsvc validate``, checkers)."""

from __future__ import annotations

import pyomo.environ as pyo

__all__ = ["model_size"]


def model_size(model: pyo.ConcreteModel) -> dict[str, int]:
    """Counts of the model's variables (all, integer, fixed), active constraints and active
    objectives."""
    variables = list(model.component_data_objects(pyo.Var, descend_into=True))
    return {
        "variables": len(variables),
        "integer_variables": sum(1 for v in variables if v.is_integer()),
        "fixed_variables": sum(1 for v in variables if v.fixed),
        "constraints": sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True, descend_into=True)),
        "objectives": sum(1 for _ in model.component_data_objects(pyo.Objective, active=True, descend_into=True)),
    }
