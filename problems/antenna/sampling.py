"""Points of a design space (:class:`~problems.antenna.families.DesignSpace`): its
Chebyshev centre, the L1 projection of any proposal onto it, and uniform random samples.
All with scipy and numpy (HiGHS inside ``scipy.optimize.linprog``); no Pyomo, no NEC.

Distances are measured in unit coordinates (each parameter scaled by its bound's span), so
every parameter counts alike whatever its range.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from problems.antenna.families import DesignSpace

__all__ = ["chebyshev_centre", "project", "sample_designs"]

FloatArray = npt.NDArray[np.float64]

_BATCH = 20_000
_REJECTION_BATCHES = 10
_THIN = 20


def _unit_system(space: DesignSpace) -> tuple[FloatArray, FloatArray]:
    """``(A_u, b_u)`` with ``A x <= b`` written over unit coordinates ``u``."""
    A, b = space.matrices()
    span = space.upper - space.lower
    return A * span, b - A @ space.lower


def chebyshev_centre(space: DesignSpace) -> FloatArray:
    """The centre (mm, shape (P,)) of the largest ball in unit coordinates inside the
    space: the most interior design. ``ValueError`` when the space is empty."""
    from scipy.optimize import linprog

    A_u, b_u = _unit_system(space)
    p = len(space.names)
    norms = np.linalg.norm(A_u, axis=1)
    # Variables (u, r): maximize r; A_u u + |a| r <= b_u; r <= u_i <= 1 - r.
    rows = [np.hstack([A_u, norms[:, None]])]
    rhs = [b_u]
    eye = np.eye(p)
    rows += [np.hstack([-eye, np.ones((p, 1))]), np.hstack([eye, np.ones((p, 1))])]
    rhs += [np.zeros(p), np.ones(p)]
    cost = np.zeros(p + 1)
    cost[-1] = -1.0
    result = linprog(
        cost, A_ub=np.vstack(rows), b_ub=np.concatenate(rhs), bounds=[(0, 1)] * p + [(0, None)], method="highs"
    )
    if result.status != 0:
        raise ValueError(f"the design space of {space.family.value} is empty ({result.message})")
    return space.from_unit(np.asarray(result.x[:p], dtype=np.float64))


def project(space: DesignSpace, target: Mapping[str, float] | FloatArray) -> FloatArray:
    """The design (mm, shape (P,)) of the space nearest to ``target`` (mm; a mapping or a
    (P,) vector) in unit-coordinate L1 distance: the LP the Pyomo model states."""
    from scipy.optimize import linprog

    t = space.vector(target) if isinstance(target, Mapping) else np.asarray(target, dtype=np.float64)
    t_u = space.to_unit(t)
    A_u, b_u = _unit_system(space)
    p = len(space.names)
    # Variables (u, d): minimize sum d; d >= u - t, d >= t - u.
    eye = np.eye(p)
    A_ub = np.vstack([np.hstack([A_u, np.zeros_like(A_u)]), np.hstack([eye, -eye]), np.hstack([-eye, -eye])])
    b_ub = np.concatenate([b_u, t_u, -t_u])
    cost = np.concatenate([np.zeros(p), np.ones(p)])
    result = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=[(0, 1)] * p + [(0, None)] * p, method="highs")
    if result.status != 0:
        raise ValueError(f"cannot project onto the design space of {space.family.value} ({result.message})")
    return space.from_unit(np.clip(np.asarray(result.x[:p], dtype=np.float64), 0.0, 1.0))


def sample_designs(space: DesignSpace, n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` designs (mm, shape (n, P)) drawn uniformly from the space: rejection sampling
    in the box, then (if the space is a small part of its box) hit-and-run from the
    Chebyshev centre, keeping every ``_THIN``-th point."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    p = len(space.names)
    kept: list[FloatArray] = []
    count = 0
    for _ in range(_REJECTION_BATCHES):
        if count >= n:
            break
        x = space.from_unit(rng.random((_BATCH, p)))
        inside = x[space.contains(x, tol_mm=0.0)]
        kept.append(inside[: n - count])
        count += len(kept[-1])
    if count < n:
        kept.append(_hit_and_run(space, n - count, rng))
    return np.vstack(kept) if kept else np.zeros((0, p))


def _hit_and_run(space: DesignSpace, n: int, rng: np.random.Generator) -> FloatArray:
    A_u, b_u = _unit_system(space)
    p = len(space.names)
    u = space.to_unit(chebyshev_centre(space))
    out = np.zeros((n, p))
    for i in range(n * _THIN):
        d = rng.standard_normal(p)
        d /= np.linalg.norm(d)
        # Feasible step range t with 0 <= u + t d <= 1 and A_u (u + t d) <= b_u.
        lo, hi = -np.inf, np.inf
        slack = np.concatenate([b_u - A_u @ u, 1.0 - u, u])
        rate = np.concatenate([A_u @ d, d, -d])
        pos, neg = rate > 1e-12, rate < -1e-12
        if pos.any():
            hi = float(np.min(slack[pos] / rate[pos]))
        if neg.any():
            lo = float(np.max(slack[neg] / rate[neg]))
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        u = np.clip(u + rng.uniform(lo, hi) * d, 0.0, 1.0)
        if (i + 1) % _THIN == 0:
            out[(i + 1) // _THIN - 1] = u
    return space.from_unit(out)
