"""The planning environment of ``network-planning@1`` and its incremental feasibility
oracle: gymnasium's checker, masks, rewards, termination, and agreement with the
independent verifier."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from problems.network_planning import NetworkPlanningProblem
from problems.network_planning.env import AMOUNTS, LINK_FEATURES, NODE_FEATURES, PlanningEnv
from problems.network_planning.feasibility import FeasibilityOracle
from problems.network_planning.generate import BUILTIN_INSTANCES, generate
from problems.network_planning.model import unit_bounds
from problems.network_planning.verify import verify
from tests.unit.problems.test_network_planning import tiny, tiny_data

K = len(AMOUNTS)


def test_gymnasium_env_checker_passes() -> None:
    env = PlanningEnv(BUILTIN_INSTANCES["mesh-8"]())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box features are documented and intended
        check_env(env, skip_render_check=True)


def test_the_problem_offers_the_environment() -> None:
    problem = NetworkPlanningProblem(tiny())
    env = problem.environment(max_steps=7)
    assert isinstance(env, PlanningEnv)
    assert env.max_steps == 7


def test_observation_shapes_and_start_state() -> None:
    instance = BUILTIN_INSTANCES["mesh-8"]()
    env = PlanningEnv(instance)
    obs, info = env.reset(seed=0)
    num_links, num_nodes = len(instance.ip_links), len(instance.routers)
    assert obs["nodes"].shape == (num_nodes, NODE_FEATURES)
    assert obs["links"].shape == (num_links, LINK_FEATURES)
    assert obs["edges"].shape == (2, num_links)
    assert obs["action_mask"].shape == (num_links * K,)
    assert info["units"] == [lo for lo, _ in unit_bounds(instance)]
    assert info["cost"] == 0.0
    assert not info["feasible"]
    assert env.observation_space.contains(obs)


def test_fill_actions_reach_a_plan_the_verifier_accepts_and_rewards_are_minus_cost() -> None:
    instance = generate(3, nodes=10, extra_links=3)
    env = PlanningEnv(instance, shaping=False)
    obs, _ = env.reset()
    total = 0.0
    while True:
        mask = obs["action_mask"].reshape(-1, K)[:, 0].astype(bool)
        short = np.where(mask, obs["links"][:, 3], -1.0)
        link = int(np.argmax(short))
        before = env.units.copy()
        obs, reward, terminated, truncated, info = env.step(link * K + AMOUNTS.index("fill"))
        added = int(env.units[link] - before[link])
        assert added >= 1
        assert (env.units - before).sum() == added
        if not (terminated and not info["feasible"]):
            assert reward == pytest.approx(-added * instance.ip_links[link].cost_per_unit / env.cost_scale)
        total += reward
        if terminated or truncated:
            break
    assert terminated
    assert info["feasible"]
    assert verify(instance, info["units"]).feasible
    assert info["cost"] == pytest.approx(-total * env.cost_scale)


def test_shaped_return_is_the_plain_return_plus_the_start_potential() -> None:
    instance = generate(4, nodes=9, extra_links=2)
    returns = []
    for shaping in (False, True):
        env = PlanningEnv(instance, shaping=shaping)
        obs, _ = env.reset()
        total = 0.0
        start = -float(env.oracle.repair_costs().max()) / env.cost_scale
        for _ in range(env.max_steps):
            link = int(np.argmax(np.where(obs["action_mask"][::K] > 0, obs["links"][:, 3], -1)))
            obs, reward, terminated, truncated, _ = env.step(link * K + 2)
            total += reward
            if terminated or truncated:
                break
        returns.append((total, start))
    (plain, _), (shaped, start) = returns
    assert shaped == pytest.approx(plain - start)


def test_masked_action_is_a_penalized_no_op() -> None:
    env = PlanningEnv(tiny(), invalid_action_penalty=0.25, shaping=False)
    obs, _ = env.reset()
    masked = np.flatnonzero(obs["action_mask"] == 0)
    assert len(masked) > 0  # links with no shortfall are pruned
    before = env.units.copy()
    _, reward, terminated, truncated, info = env.step(int(masked[0]))
    assert reward == pytest.approx(-0.25)
    assert (env.units == before).all()
    assert info["cost"] == 0.0
    assert not terminated
    assert not truncated


def test_a_link_at_its_maximum_is_masked() -> None:
    data = tiny_data()
    env = PlanningEnv(NetworkPlanningProblem.parse_instance(data), short_links_only=False)
    obs, _ = env.reset()
    assert obs["action_mask"].all() == bool(env._room().all())
    full = copy.deepcopy(data)
    full["ip_links"][0]["existing_units"] = full["ip_links"][0]["max_units"]
    env = PlanningEnv(NetworkPlanningProblem.parse_instance(full), short_links_only=False)
    obs, _ = env.reset()
    assert not obs["action_mask"][:K].any()


def test_spectrum_and_lease_limits_mask_actions() -> None:
    env = PlanningEnv(tiny(), short_links_only=False)
    env.reset()
    # Lease Q holds 4 units over L2 and L3; spectrum of BC (4 slots) is shared by L2 and L5 (2 per unit).
    env.units[1] = 2
    env.units[2] = 2
    room = env._room()
    assert room[1] == 0
    assert room[2] == 0
    env.units[:] = env.lower
    env.units[4] = 2  # L5 takes all 4 slots of BC
    assert env._room()[1] == 0


def test_an_instance_without_enough_room_ends_infeasible_with_the_penalty() -> None:
    data = tiny_data()
    for link in data["ip_links"]:
        link["max_units"] = max(link.get("existing_units", 0), 1)
    instance = NetworkPlanningProblem.parse_instance(data)
    env = PlanningEnv(instance, infeasible_penalty=3.0, shaping=False)
    env.reset()
    for _ in range(env.max_steps):
        mask = env.action_masks()
        if not mask.any():
            break
        _, reward, terminated, truncated, info = env.step(int(np.flatnonzero(mask)[0]))
        if terminated or truncated:
            break
    assert terminated
    assert not info["feasible"]
    assert reward <= -3.0


def test_truncation_at_max_steps_is_penalized() -> None:
    env = PlanningEnv(generate(5, nodes=10), max_steps=1, infeasible_penalty=2.0, shaping=False)
    obs, _ = env.reset()
    action = int(np.flatnonzero(obs["action_mask"])[0])
    _, reward, terminated, truncated, info = env.step(action)
    assert truncated
    assert not terminated
    assert not info["feasible"]
    assert reward < -2.0


def test_reset_restores_the_start() -> None:
    env = PlanningEnv(generate(6, nodes=8))
    first, _ = env.reset()
    env.step(int(np.flatnonzero(first["action_mask"])[-1]))
    again, info = env.reset()
    assert info["cost"] == 0.0
    for key in first:
        assert np.array_equal(first[key], again[key]), key


@pytest.mark.parametrize("seed", range(6))
def test_oracle_agrees_with_the_verifier_on_random_plans(seed: int) -> None:
    instance = generate(seed, nodes=7 + seed, extra_links=2)
    lower = [lo for lo, _ in unit_bounds(instance)]
    oracle = FeasibilityOracle(instance, lower)
    rng = np.random.default_rng(seed)
    units = list(lower)
    for _ in range(12):
        link = int(rng.integers(len(units)))
        units[link] = min(units[link] + int(rng.integers(1, 4)), instance.ip_links[link].max_units)
        oracle.set_units(link, units[link])
        expected = verify(instance, units).routed
        assert oracle.routes() == expected
        shortfall = oracle.shortfall()
        assert (shortfall >= 0).all()
        assert (shortfall.sum() > 0) == (not expected)
    # Shrinking back re-solves too.
    for link, lo in enumerate(lower):
        oracle.set_units(link, lo)
    assert oracle.routes() == verify(instance, lower).routed


def _episode_units(env: PlanningEnv, actions: list[int]) -> list[Any]:
    env.reset()
    out = []
    for a in actions:
        _, _, terminated, truncated, info = env.step(a)
        out.append(info["units"])
        if terminated or truncated:
            break
    return out


def test_episodes_are_deterministic() -> None:
    instance = generate(8, nodes=9)
    env = PlanningEnv(instance)
    obs, _ = env.reset()
    actions = [int(a) for a in np.flatnonzero(obs["action_mask"])[:5]]
    assert _episode_units(env, actions) == _episode_units(PlanningEnv(instance), actions)
