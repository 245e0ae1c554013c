"""Seeded random ``antenna@1`` instances with feasible targets, and the built-in instances.

:func:`generate_with_witness` draws from ``numpy.random.default_rng(seed)``, in this order:
the family (unless given), then :data:`SAMPLES` uniform designs of the family's default
design space, each simulated over the family's default sweep (:data:`DEFAULT_SWEEPS`).
When none reaches ``|S11| <= -11 dB`` somewhere in the sweep, differential evolution
(:func:`problems.antenna.baselines.minimize_on_space`, seed ``seed``) lowers the deepest
``|S11|`` for up to ``search_calls`` more simulations. The best design is the *witness*:
the pass band is the run of sweep points around its deepest point inside the sweep (at most
``2 * HALF_BAND_POINTS + 1`` points) where it stays under the ceiling, -10 dB, or when even
the witness does not reach -10 dB, its deepest value plus 1 dB rounded up to 0.5 dB (at most
0 dB). With
``reject_band`` the instance also gets a reject band (``|S11| >= -3 dB``): the middle
third of the longest run of sweep points, clear of the pass band by 3 points, where the
witness stays at or above -3 dB. So the witness meets the target: every generated
instance is feasible. Generation costs ``SAMPLES`` to ``SAMPLES + search_calls`` NEC sweeps
(a few seconds).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from designsvc.core.types import JsonDict
from problems.antenna.baselines import minimize_on_space
from problems.antenna.evaluate import design_from_vector
from problems.antenna.families import Family, design_space
from problems.antenna.nec import s11_db
from problems.antenna.sampling import sample_designs
from problems.antenna.schema import AntennaInstance, PassBand, RejectBand, Sweep, Target
from problems.antenna.simulator import design_s11

__all__ = [
    "BUILTIN_INSTANCES",
    "DEFAULT_SWEEPS",
    "FAMILIES",
    "HALF_BAND_POINTS",
    "SAMPLES",
    "SEARCH_CALLS",
    "generate",
    "generate_with_witness",
]

FAMILIES = (Family.THREE_BRANCH, Family.MEANDER)
DEFAULT_SWEEPS: Mapping[Family, Sweep] = {
    Family.THREE_BRANCH: Sweep(start_mhz=1000.0, stop_mhz=4000.0, points=61),
    Family.MEANDER: Sweep(start_mhz=400.0, stop_mhz=2800.0, points=61),
}
SAMPLES = 12
SEARCH_CALLS = 150
HALF_BAND_POINTS = 2
_GOAL_DB = -11.0
_CEILING_DB = -10.0
_REJECT_DB = -3.0

FloatArray = npt.NDArray[np.float64]


def generate(
    seed: int,
    *,
    family: Family | None = None,
    points: int | None = None,
    reject_band: bool = False,
    search_calls: int = SEARCH_CALLS,
    name: str = "",
) -> AntennaInstance:
    """A random instance with a feasible target (see the module docstring)."""
    return generate_with_witness(
        seed, family=family, points=points, reject_band=reject_band, search_calls=search_calls, name=name
    )[0]


def generate_with_witness(
    seed: int,
    *,
    family: Family | None = None,
    points: int | None = None,
    reject_band: bool = False,
    search_calls: int = SEARCH_CALLS,
    name: str = "",
) -> tuple[AntennaInstance, JsonDict]:
    """``(instance, witness)``: a random instance and a design meeting its target."""
    instance, witness = _generate(seed, family, points, reject_band, search_calls, name=name)
    return instance.model_copy(deep=True), {"params": dict(witness["params"])}


@functools.lru_cache(maxsize=32)
def _generate(
    seed: int, family: Family | None, points: int | None, reject_band: bool, search_calls: int, *, name: str
) -> tuple[AntennaInstance, JsonDict]:
    rng = np.random.default_rng(seed)
    drawn = FAMILIES[int(rng.integers(len(FAMILIES)))]
    chosen = Family(family) if family is not None else drawn
    sweep = DEFAULT_SWEEPS[chosen]
    if points is not None:
        sweep = Sweep(start_mhz=sweep.start_mhz, stop_mhz=sweep.stop_mhz, points=points)
    space = design_space(chosen)
    freqs = sweep.freqs_hz
    radius = space.wire_radius_mm

    def deepest_db(x: FloatArray) -> float:
        """The deepest |S11| (dB) inside the sweep (its two end points excluded)."""
        db = s11_db(design_s11(chosen, space.params(x), wire_radius_mm=radius, freqs_hz=freqs))
        return float(db[1:-1].min())

    samples = sample_designs(space, SAMPLES, rng)
    values = [deepest_db(x) for x in samples]
    order = np.argsort(values)
    best_x, best_value = samples[order[0]], float(values[order[0]])
    if best_value > _GOAL_DB and search_calls > 0:
        found = minimize_on_space(
            space,
            deepest_db,
            budget=search_calls,
            seed=seed,
            init=samples[order],
            stop_at=_GOAL_DB,
            worst=best_value,
        )
        if found.value < best_value:
            best_x, best_value = found.x, found.value
    db = s11_db(design_s11(chosen, space.params(best_x), wire_radius_mm=radius, freqs_hz=freqs))
    # At most 0 dB: a passive antenna's |S11| never exceeds it (and the schema takes no more).
    ceiling = _CEILING_DB if best_value <= _CEILING_DB else min(0.0, math.ceil((best_value + 1.0) * 2.0) / 2.0)
    centre = 1 + int(np.argmin(db[1:-1]))
    lo = hi = centre
    while lo > 0 and centre - lo < HALF_BAND_POINTS and db[lo - 1] <= ceiling:
        lo -= 1
    while hi < len(db) - 1 and hi - centre < HALF_BAND_POINTS and db[hi + 1] <= ceiling:
        hi += 1
    mhz = freqs / 1e6
    bands = [PassBand(start_mhz=float(mhz[lo]), stop_mhz=float(mhz[hi]), max_s11_db=ceiling)]
    rejects: list[RejectBand] = []
    if reject_band:
        run = _longest_run(db >= _REJECT_DB, exclude=(lo - 3, hi + 3))
        if run is not None:
            a, b = run
            third = (b - a + 1) // 3
            a, b = (a + third, b - third) if third else (a, b)
            rejects.append(RejectBand(start_mhz=float(mhz[a]), stop_mhz=float(mhz[b]), min_s11_db=_REJECT_DB))
    instance = AntennaInstance(
        name=name or f"{chosen.value}-seed{seed}",
        family=chosen,
        sweep=sweep,
        target=Target(bands=bands, reject_bands=rejects),
    )
    return instance, design_from_vector(space, best_x)


def _longest_run(mask: npt.NDArray[np.bool_], exclude: tuple[int, int]) -> tuple[int, int] | None:
    """The longest run ``[a, b]`` of True in ``mask`` outside the index range ``exclude``."""
    usable = mask.copy()
    usable[max(exclude[0], 0) : exclude[1] + 1] = False
    best: tuple[int, int] | None = None
    start: int | None = None
    for i, ok in enumerate([*usable.tolist(), False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if best is None or i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best


def _example() -> AntennaInstance:
    return AntennaInstance(
        name="three-branch-2g4",
        family=Family.THREE_BRANCH,
        sweep=Sweep(start_mhz=1500.0, stop_mhz=3500.0, points=41),
        target=Target(bands=[PassBand(start_mhz=2400.0, stop_mhz=2500.0, max_s11_db=-10.0)]),
        baseline_nec_calls=600,
    )


def _example_reject() -> AntennaInstance:
    return AntennaInstance(
        name="three-branch-2g4-reject",
        family=Family.THREE_BRANCH,
        sweep=Sweep(start_mhz=1500.0, stop_mhz=3500.0, points=41),
        target=Target(
            bands=[PassBand(start_mhz=2400.0, stop_mhz=2500.0, max_s11_db=-10.0)],
            reject_bands=[RejectBand(start_mhz=1500.0, stop_mhz=1800.0, min_s11_db=-3.0)],
        ),
        baseline_nec_calls=600,
    )


def _generated(seed: int, family: Family, reject_band: bool = False) -> Callable[[], AntennaInstance]:
    def make() -> AntennaInstance:
        return generate(seed, family=family, reject_band=reject_band)

    make.__doc__ = f"A generated {family.value} instance (seed {seed}) with a feasible target."
    return make


BUILTIN_INSTANCES: Mapping[str, Callable[[], AntennaInstance]] = {
    "three-branch-2g4": _example,
    "three-branch-2g4-reject": _example_reject,
    "three-branch-seed1": _generated(1, Family.THREE_BRANCH),
    "meander-seed2": _generated(2, Family.MEANDER, reject_band=True),
}
"""Named instances (``"instance_ref": "builtin:NAME"``), each built afresh on call:
``three-branch-2g4`` (the example: one 2400-2500 MHz band under -10 dB, swept from 1.5 to
3.5 GHz in 41 points), the same with a 1500-1800 MHz reject band (``|S11| >= -3 dB``), and
two generated instances with known-feasible targets (a three-branch monopole; a meander with
a reject band). Generated ones simulate a dozen designs or more when first built (cached
per process)."""
