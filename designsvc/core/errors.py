"""Error hierarchy.

Every error the service raises on purpose derives from :class:`DesignsvcError`. Errors about
a user's spec carry a JSON pointer (RFC 6901) into the spec, so the CLI can print
``/limits/time_limit_s: must be > 0`` and the API can answer RFC 9457 problem+json.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactQuotaExceededError",
    "DesignsvcError",
    "FieldError",
    "IdempotencyConflictError",
    "JobNotFoundError",
    "ModelNotSupportedError",
    "RegistryError",
    "SolverUnavailableError",
    "SpecError",
    "StoreError",
    "TransitionConflictError",
    "UnknownNameError",
    "escape_pointer_token",
    "pointer_from_path",
]


class DesignsvcError(Exception):
    """Base of every error raised on purpose by designsvc."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: ``pointer`` is a JSON pointer into the spec ("" = root)."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


def escape_pointer_token(token: str | int) -> str:
    """Escape one reference token per RFC 6901 (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_from_path(path: Iterable[str | int]) -> str:
    """Build a JSON pointer from path segments: ``("limits", "seed") -> "/limits/seed"``."""
    return "".join("/" + escape_pointer_token(part) for part in path)


class SpecError(DesignsvcError):
    """The spec is invalid; ``errors`` lists each field at fault with a JSON pointer."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("SpecError needs at least one FieldError")
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors))

    @classmethod
    def at(cls, pointer: str, message: str) -> SpecError:
        """A spec error about a single field."""
        return cls([FieldError(pointer, message)])

    def prefixed(self, prefix: str) -> SpecError:
        """The same errors with ``prefix`` (a JSON pointer) put in front of each pointer."""
        return SpecError([FieldError(prefix + e.pointer, e.message) for e in self.errors])


class RegistryError(DesignsvcError):
    """A registry was misused: a duplicate name, a bad target string, a failed import."""


class UnknownNameError(RegistryError, LookupError):
    """No plug-in is registered under this name; ``known`` lists the names that are."""

    def __init__(self, what: str, name: str, known: Sequence[str]) -> None:
        self.what = what
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown {what} {name!r}; known: {', '.join(self.known) or 'none'}")


class SolverUnavailableError(DesignsvcError):
    """The solver's backend cannot be used here (not installed, failed to load)."""


class ModelNotSupportedError(DesignsvcError):
    """The model has a feature the solver cannot take (a continuous variable for CP-SAT,
    a quadratic term for a linear-only backend, a coefficient with no exact integer scaling)."""


class JobNotFoundError(DesignsvcError, LookupError):
    """No job (or batch) with this id."""

    def __init__(self, what: str, item_id: str) -> None:
        self.what = what
        self.item_id = item_id
        super().__init__(f"no {what} with id {item_id!r}")


class ArtifactNotFoundError(DesignsvcError, LookupError):
    """The job has no artifact of this name."""


class IdempotencyConflictError(DesignsvcError):
    """An idempotency key was reused with a different request body."""

    def __init__(self, key: str, job_id: str) -> None:
        self.key = key
        self.job_id = job_id
        super().__init__(f"idempotency key {key!r} was used for job {job_id} with a different body")


class TransitionConflictError(DesignsvcError):
    """A compare-and-set transition found the job in another status than expected."""

    def __init__(self, job_id: str, current: str, expected: Iterable[str], to: str) -> None:
        self.job_id = job_id
        self.current = current
        self.expected = tuple(sorted(expected))
        self.to = to
        super().__init__(f"job {job_id} is {current}; cannot move it to {to} (expected {', '.join(self.expected)})")


class StoreError(DesignsvcError):
    """The job store cannot be reached or used (bad URL, connection refused, disk full)."""


class ArtifactQuotaExceededError(StoreError):
    """An artifact would take the store's artifact files past their quota: the store works,
    this artifact does not fit (a job that produced it fails with this message; retrying
    cannot help)."""
