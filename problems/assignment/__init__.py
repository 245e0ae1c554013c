"""``assignment@1``: the generalized assignment problem (GAP), the reference problem kind.

Items with per-bin sizes and costs go into bins with capacities, each item into exactly one
bin, no bin over its capacity, at least total cost. Importing this package loads Pyomo but
no plotting library and no solver backend.
"""

from problems.assignment.problem import AssignmentProblem
from problems.assignment.schema import AssignmentInstance

__all__ = ["AssignmentInstance", "AssignmentProblem"]
