"""``table-sharding@1``: embedding tables of a recommendation model (DLRM-style) placed on
accelerators, each table whole on one device, no device over its memory, so that the
slowest device (ms per training iteration, under a non-additive cost model) is as fast as
possible. Importing this package loads Pyomo but no plotting library and no solver backend.
"""

from problems.table_sharding.cost import AnalyticCostModel, CostModel
from problems.table_sharding.problem import TableShardingProblem
from problems.table_sharding.schema import TableShardingInstance

__all__ = ["AnalyticCostModel", "CostModel", "TableShardingInstance", "TableShardingProblem"]
