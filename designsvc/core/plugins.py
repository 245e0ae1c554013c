"""The registries and the built-in plug-ins.

Built-ins are registered here as lazy ``module:Class`` strings (importing this module loads
no backend); third-party packages add theirs through entry points, e.g. in pyproject.toml::

    [project.entry-points."designsvc.solvers"]
    mysolver = "mypkg.solver:MySolver"
"""

from __future__ import annotations

import re
from typing import Any

from designsvc.core.errors import UnknownNameError
from designsvc.core.problem import Problem
from designsvc.core.proposer import Proposer
from designsvc.core.registry import Registry
from designsvc.core.solver import Solver
from designsvc.core.trainer import Trainer

__all__ = ["AGENT_BACKENDS", "PROBLEMS", "PROPOSERS", "SOLVERS", "TRAINERS", "resolve_problem_id"]

PROBLEMS: Registry[Problem[Any]] = Registry(
    what="problem kind",
    group="designsvc.problems",
    base=Problem,
    name_pattern=r"[a-z][a-z0-9-]*@[1-9][0-9]*",
    name_of=lambda cls: cls.id(),
)
SOLVERS: Registry[Solver] = Registry(
    what="solver",
    group="designsvc.solvers",
    base=Solver,
    name_pattern=r"[a-z][a-z0-9-]*",
    name_of=lambda cls: cls.name,
)
PROPOSERS: Registry[Proposer] = Registry(
    what="proposer",
    group="designsvc.proposers",
    base=Proposer,
    name_pattern=r"[a-z][a-z0-9-]*",
    name_of=lambda cls: cls.name,
)
TRAINERS: Registry[Trainer] = Registry(
    what="trainer",
    group="designsvc.trainers",
    base=Trainer,
    name_pattern=r"[a-z][a-z0-9-]*",
    name_of=lambda cls: cls.name,
)
AGENT_BACKENDS: Registry[Any] = Registry(
    what="agent backend",
    group="designsvc.agent_backends",
    base=object,  # duck-typed (designsvc.agent.turn.AgentBackend): plug-ins import only designsvc.core
    name_pattern=r"[a-z][a-z0-9-]*",
    name_of=lambda cls: cls.name,
)

PROBLEMS.register("assignment@1", "problems.assignment.problem:AssignmentProblem")
PROBLEMS.register("network-planning@1", "problems.network_planning.problem:NetworkPlanningProblem")
PROBLEMS.register("table-sharding@1", "problems.table_sharding.problem:TableShardingProblem")
PROBLEMS.register("photonics@1", "problems.photonics.problem:PhotonicsProblem")
PROBLEMS.register("antenna@1", "problems.antenna.problem:AntennaProblem")

SOLVERS.register("highs", "solvers.highs:HighsSolver")
SOLVERS.register("cpsat", "solvers.cpsat:CpSatSolver")
SOLVERS.register("scip", "solvers.scip:ScipSolver")

PROPOSERS.register("baseline-start", "surrogates.baseline_start:BaselineStartProposer")
PROPOSERS.register("neuroplan", "surrogates.neuroplan.proposer:NeuroPlanProposer")
PROPOSERS.register("surco-zero", "surrogates.surco.proposer:SurCoZeroProposer")
PROPOSERS.register("surco-prior", "surrogates.surco.proposer:SurCoPriorProposer")
PROPOSERS.register("surco-hybrid", "surrogates.surco.proposer:SurCoHybridProposer")
PROPOSERS.register("czp-search", "surrogates.czp.proposer:CZPSearchProposer")

TRAINERS.register("neuroplan", "surrogates.neuroplan.trainer:NeuroPlanTrainer")
TRAINERS.register("surco-prior", "surrogates.surco.trainer:SurCoPriorTrainer")
TRAINERS.register("surco-prior-photonics", "surrogates.surco.photonics_trainer:SurCoPriorPhotonicsTrainer")
TRAINERS.register("sharding-calibration", "surrogates.shardcost.trainer:ShardingCalibrationTrainer")
TRAINERS.register("czp", "surrogates.czp.trainer:CZPTrainer")

AGENT_BACKENDS.register("local", "surrogates.llm.agent_backend:LocalAgentBackend")
AGENT_BACKENDS.register("openai", "surrogates.llm.agent_backend:OpenAIAgentBackend")

_VERSIONED = re.compile(r"^(?P<kind>[a-z][a-z0-9-]*)(@(?P<version>[1-9][0-9]*))?$")


def resolve_problem_id(name: str) -> str:
    """``"assignment@1"`` as is; ``"assignment"`` -> its latest registered version."""
    match = _VERSIONED.fullmatch(name)
    if match is None:
        raise UnknownNameError("problem kind", name, PROBLEMS.names())
    if match.group("version"):
        PROBLEMS.target(name)
        return name
    kind = match.group("kind")
    versions = [int(n.split("@")[1]) for n in PROBLEMS.names() if n.split("@")[0] == kind]
    if not versions:
        raise UnknownNameError("problem kind", name, PROBLEMS.names())
    return f"{kind}@{max(versions)}"
