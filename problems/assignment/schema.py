"""The instance schema of ``assignment@1``, the generalized assignment problem (GAP).

An instance has bins with capacities and items with one size and one cost per bin. Units:
sizes and capacities share one unit of the user's choosing (kg, GB, hours, ...); costs are in
the user's currency (or any additive cost unit). Sizes may differ by bin (an item may take
longer on a slower machine), which is what makes the problem *generalized*.

The pydantic model checks each field (types, finiteness, non-negativity, at least one bin
and one item). Rules across fields (one size and one cost per bin, unique names, the size
limit) are checked by :func:`check_instance`, which raises :class:`SpecError` with JSON
pointers relative to the instance, e.g. ``/items/3/sizes: has 4 entries; there are 3 bins``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from designsvc.core.errors import FieldError, SpecError

__all__ = [
    "MAX_ERRORS",
    "MAX_VARIABLES",
    "AssignmentInstance",
    "Bin",
    "Item",
    "check_instance",
    "instance_errors",
]

MAX_VARIABLES = 1_000_000
"""The largest accepted ``len(items) * len(bins)`` (one binary variable per pair)."""

MAX_ERRORS = 100
"""At most this many cross-field errors are listed; a last one counts the rest."""

Name = Annotated[str, Field(min_length=1, description="A non-empty name, unique in its list.")]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]


class Bin(BaseModel):
    """A bin (a machine, a knapsack, a server): ``capacity`` in the size unit, >= 0."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    capacity: NonNegative = Field(description="Largest total size of the items in this bin, in the size unit (>= 0).")


class Item(BaseModel):
    """An item (a job, a task, a shard): ``sizes[b]`` and ``costs[b]`` apply when the item
    goes into bin ``b`` (positions in :attr:`AssignmentInstance.bins`)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    sizes: list[NonNegative] = Field(description="Size of the item in each bin, in the size unit (>= 0); one per bin.")
    costs: list[Finite] = Field(description="Cost of putting the item in each bin, in the currency; one per bin.")


class AssignmentInstance(BaseModel):
    """A GAP instance: put every item into exactly one bin so that each bin's load (the sum
    of the sizes, in that bin, of the items it holds) is at most its capacity, at least
    total cost."""

    model_config = ConfigDict(extra="forbid", title="assignment@1 instance")

    name: str = Field(default="", description="Free-form name of the instance.")
    bins: list[Bin] = Field(min_length=1, description="The bins, at least one.")
    items: list[Item] = Field(min_length=1, description="The items, at least one.")


def instance_errors(instance: AssignmentInstance) -> list[FieldError]:
    """Every cross-field rule ``instance`` breaks (empty when it is valid), with JSON
    pointers relative to the instance; at most :data:`MAX_ERRORS` plus one summary."""
    errors: list[FieldError] = []
    num_bins = len(instance.bins)
    num_vars = len(instance.items) * num_bins
    if num_vars > MAX_VARIABLES:
        errors.append(
            FieldError(
                "",
                f"too large: {len(instance.items)} items x {num_bins} bins = {num_vars:,} "
                f"assignment variables; the limit is {MAX_VARIABLES:,}",
            )
        )
    for i, item in enumerate(instance.items):
        for field in ("sizes", "costs"):
            count = len(getattr(item, field))
            if count != num_bins:
                errors.append(
                    FieldError(
                        f"/items/{i}/{field}",
                        f"has {count} {_entries(count)}; there {_are(num_bins)} {num_bins} "
                        f"{'bin' if num_bins == 1 else 'bins'}",
                    )
                )
    errors.extend(_duplicates("bins", [b.name for b in instance.bins], "bin"))
    errors.extend(_duplicates("items", [it.name for it in instance.items], "item"))
    if len(errors) > MAX_ERRORS:
        rest = len(errors) - MAX_ERRORS
        errors = [*errors[:MAX_ERRORS], FieldError("", f"and {rest} more errors")]
    return errors


def check_instance(instance: AssignmentInstance) -> None:
    """Raise :class:`SpecError` listing every cross-field rule ``instance`` breaks."""
    errors = instance_errors(instance)
    if errors:
        raise SpecError(errors)


def _duplicates(field: str, names: list[str], what: str) -> list[FieldError]:
    first: dict[str, int] = {}
    errors: list[FieldError] = []
    for k, name in enumerate(names):
        seen = first.setdefault(name, k)
        if seen != k:
            errors.append(
                FieldError(
                    f"/{field}/{k}/name",
                    f"duplicate {what} name {name!r} (also at /{field}/{seen}/name)",
                )
            )
    return errors


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"


def _are(count: int) -> str:
    return "is" if count == 1 else "are"
