"""Registries: lazy loading, collision checks, entry points from an installed distribution."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from designsvc.core.errors import RegistryError, UnknownNameError
from designsvc.core.plugins import PROBLEMS, PROPOSERS, SOLVERS, resolve_problem_id
from designsvc.core.registry import Registry
from designsvc.core.solver import Solver


def _solver_registry() -> Registry[Solver]:
    return Registry(
        what="solver", group="designsvc.test-solvers", base=Solver, name_pattern=r"[a-z]+", name_of=lambda c: c.name
    )


def test_builtin_names() -> None:
    assert {"highs", "cpsat", "scip"} <= set(SOLVERS.names())
    assert "assignment@1" in PROBLEMS.names()
    assert "baseline-start" in PROPOSERS.names()


def test_registering_a_name_twice_raises_naming_both_targets() -> None:
    registry = _solver_registry()
    registry.register("highs", "solvers.highs:HighsSolver")
    with pytest.raises(RegistryError, match=r"registered twice: solvers.highs:HighsSolver and other.mod:Other"):
        registry.register("highs", "other.mod:Other")


@pytest.mark.parametrize("name", ["HiGHS", "with space", "", "x@1"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(RegistryError, match="invalid solver name"):
        _solver_registry().register(name, "solvers.highs:HighsSolver")


def test_invalid_target_is_refused() -> None:
    with pytest.raises(RegistryError, match="use 'module:Class'"):
        _solver_registry().register("highs", "solvers.highs.HighsSolver")


def test_unknown_name_lists_known_names() -> None:
    registry = _solver_registry()
    registry.register("highs", "solvers.highs:HighsSolver")
    with pytest.raises(UnknownNameError, match="unknown solver 'gurobi'; known: highs"):
        registry.load("gurobi")


def test_registration_imports_nothing_until_load() -> None:
    registry = _solver_registry()
    registry.register("ghost", "designsvc_no_such_module:Ghost")
    assert registry.names() == ["ghost"]
    with pytest.raises(RegistryError, match="cannot load solver 'ghost'"):
        registry.load("ghost")


def test_loaded_class_must_subclass_the_base_and_declare_the_name() -> None:
    registry = _solver_registry()
    registry.register("notasolver", "designsvc.core.cancel:CancelToken")
    with pytest.raises(RegistryError, match="not a Solver subclass"):
        registry.load("notasolver")
    registry.register("cpsat", "solvers.highs:HighsSolver")
    with pytest.raises(RegistryError, match="declares the name 'highs', registered as 'cpsat'"):
        registry.load("cpsat")


def test_entry_points_of_an_installed_distribution_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party package registers a solver through the entry-point group, as a real
    installed distribution does (a dist-info folder on sys.path)."""
    package = tmp_path / "thirdparty_solver"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from solvers.highs import HighsSolver

            class MySolver(HighsSolver):
                name = "mysolver"
            """
        )
    )
    dist = tmp_path / "thirdparty_solver-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-solver\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[designsvc.test-solvers]\nmysolver = thirdparty_solver:MySolver\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = _solver_registry()
    assert registry.names() == ["mysolver"]
    cls = registry.load("mysolver")
    assert cls.name == "mysolver"
    assert issubclass(cls, Solver)
    monkeypatch.delitem(sys.modules, "thirdparty_solver")


def test_entry_point_clashing_with_a_builtin_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "clash-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clash\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[designsvc.test-solvers]\nhighs = clash:Highs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = _solver_registry()
    registry.register("highs", "solvers.highs:HighsSolver")
    with pytest.raises(RegistryError, match="registered twice"):
        registry.names()


def test_problem_ids_resolve_to_the_latest_version() -> None:
    assert resolve_problem_id("assignment") == "assignment@1"
    assert resolve_problem_id("assignment@1") == "assignment@1"
    with pytest.raises(UnknownNameError):
        resolve_problem_id("assignment@7")
    with pytest.raises(UnknownNameError):
        resolve_problem_id("no-such-kind")


def test_a_proposer_keeps_back_a_share_of_the_time_left_for_the_solve() -> None:
    import time

    problem_cls = PROBLEMS.load("assignment@1")
    problem = problem_cls(problem_cls.builtin_instances()["gap-10x3"]())
    proposer = PROPOSERS.load("baseline-start")(problem)
    assert proposer.time_left_s() is None
    proposer.deadline = time.perf_counter() + 100.0
    left = proposer.time_left_s()
    assert left is not None
    assert 84.0 < left <= 85.0  # 15 % of 100 s kept back
    proposer.deadline = time.perf_counter() + 4.0
    assert proposer.time_left_s() == 0.0  # at least 5 s kept back
