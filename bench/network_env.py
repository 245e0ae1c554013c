"""Speed of the planning environment's feasibility check: environment steps per second of
``PlanningEnv`` (incremental elastic LPs in persistent HiGHS objects) against re-checking
every step from scratch with the independent verifier, on seeded instances of growing size.

Each episode plays the same simple policy (add the whole shortfall of the link with the
largest one) until the plan routes everything; ``oracle`` is the environment as shipped,
``verifier`` re-runs :func:`problems.network_planning.verify.verify` after every step
(what a naive environment would do), both in this process. Run
``python bench/network_env.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402

from problems.network_planning.env import AMOUNTS, PlanningEnv  # noqa: E402
from problems.network_planning.generate import generate  # noqa: E402
from problems.network_planning.verify import verify  # noqa: E402

SIZES = [(8, None), (12, None), (20, None), (30, None), (40, 50), (60, 50)]


def episode(env: PlanningEnv, check: bool) -> tuple[int, float, float, int]:
    """Steps, seconds of the steps, seconds of the verifier re-checks, LP solves."""
    obs, _ = env.reset()
    solves = env.oracle.stats.solves
    steps, verify_s = 0, 0.0
    t = time.perf_counter()
    while True:
        mask = obs["action_mask"][:: len(AMOUNTS)] > 0
        link = int(np.argmax(np.where(mask, obs["links"][:, 3], -1.0)))
        obs, _, terminated, truncated, info = env.step(link * len(AMOUNTS) + AMOUNTS.index("fill"))
        steps += 1
        if check:
            v = time.perf_counter()
            verify(env.instance, info["units"])
            verify_s += time.perf_counter() - v
        if terminated or truncated:
            break
    return steps, time.perf_counter() - t - verify_s, verify_s, env.oracle.stats.solves - solves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify-max-nodes", type=int, default=30, help="re-check with the verifier up to this size")
    args = parser.parse_args()
    print(f"# PlanningEnv steps per second ({platform.machine()}, {os.cpu_count()} cores)")
    print(f"# command: python {' '.join(sys.argv)}")
    print()
    print("| routers | links | scenarios | build + first solve s | steps | oracle steps/s | LP solves / step "
          "| verifier s / step | speed-up |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for nodes, scenarios in SIZES:
        instance = generate(300 + nodes, nodes=nodes, extra_links=nodes // 3, scenarios=scenarios)
        t = time.perf_counter()
        env = PlanningEnv(instance)
        build_s = time.perf_counter() - t
        steps, oracle_s, _, solves = episode(env, check=False)
        verify_per_step = None
        if nodes <= args.verify_max_nodes:
            _, _, verify_s, _ = episode(env, check=True)
            verify_per_step = verify_s / steps
        rate = steps / oracle_s
        print(
            f"| {nodes} | {len(instance.ip_links)} | {len(instance.failure_scenarios)} | {build_s:.2f} | {steps} "
            f"| {rate:.1f} | {solves / steps:.1f} | {'-' if verify_per_step is None else f'{verify_per_step:.3f}'} "
            f"| {'-' if verify_per_step is None else f'{verify_per_step * rate:.0f}x'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
