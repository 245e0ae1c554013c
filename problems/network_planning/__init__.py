"""``network-planning@1``: IP-over-optical capacity planning that survives fiber failures
(after NeuroPlan, SIGCOMM 2021).

Choose the capacity units of IP links riding fiber paths, at least added cost, so that all
traffic routes without failures and the protected classes' traffic in every failure
scenario, within fiber spectrum and lease limits. Importing this package loads Pyomo,
scipy and networkx but no plotting library and no solver backend.
"""

from problems.network_planning.problem import NetworkPlanningProblem
from problems.network_planning.schema import NetworkPlanningInstance

__all__ = ["NetworkPlanningInstance", "NetworkPlanningProblem"]
