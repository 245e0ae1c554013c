"""What a tenant may submit: the limits checked before a job is stored.

- ``max_unfinished_jobs``: the tenant's queued + running + canceling jobs (a concurrency cap;
  a submission over it is refused with 429 and stores nothing);
- ``max_time_limit_s``: the largest ``/limits/time_limit_s`` a spec may ask for (422 with that
  pointer);
- ``max_instance_bytes`` (and per kind, ``max_instance_bytes_per_kind``): the size of the
  resolved instance as canonical JSON, inline or made from a reference (422 pointing at
  ``/instance`` or ``/instance_ref``). The request body limit (413) bounds what a client can
  send; this bounds what a reference such as ``generate:...`` makes the server build.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from designsvc.core.errors import DesignsvcError, SpecError
from designsvc.core.jobs import DEFAULT_TENANT, JobStore

__all__ = ["OPEN_POLICY", "QuotaExceededError", "SubmitPolicy", "instance_bytes"]


class QuotaExceededError(DesignsvcError):
    """The tenant is at its cap of unfinished jobs (429 with ``Retry-After``)."""

    def __init__(self, tenant: str, unfinished: int, cap: int) -> None:
        self.tenant = tenant
        self.unfinished = unfinished
        self.cap = cap
        super().__init__(
            f"tenant {tenant!r} has {unfinished} unfinished job(s), at its cap of {cap}: "
            "wait for some to finish or cancel them"
        )


@dataclass(frozen=True)
class SubmitPolicy:
    """The tenant a submission is stored for and the limits it must meet (None: no limit)."""

    tenant: str = DEFAULT_TENANT
    max_unfinished_jobs: int | None = None
    max_time_limit_s: float | None = None
    max_instance_bytes: int | None = None
    max_instance_bytes_per_kind: Mapping[str, int] = field(default_factory=dict)

    def check_capacity(self, store: JobStore, new_jobs: int = 1) -> None:
        """QuotaExceededError when ``new_jobs`` more would pass the unfinished-jobs cap."""
        if self.max_unfinished_jobs is None:
            return
        unfinished = store.count_unfinished(self.tenant)
        if unfinished + new_jobs > self.max_unfinished_jobs:
            raise QuotaExceededError(self.tenant, unfinished, self.max_unfinished_jobs)

    def check_job(self, job: Any, prefix: str = "") -> None:
        """SpecError (pointers under ``prefix``) when a resolved job asks for more than allowed."""
        limits = getattr(job.spec, "limits", None)
        asked = getattr(limits, "time_limit_s", None)
        if self.max_time_limit_s is not None and asked is not None and asked > self.max_time_limit_s:
            raise SpecError.at(
                f"{prefix}/limits/time_limit_s",
                f"{asked:g} s is over this service's maximum of {self.max_time_limit_s:g} s",
            )
        cap = self.max_instance_bytes_per_kind.get(job.problem_id, self.max_instance_bytes)
        problem = getattr(job, "problem", None)
        if cap is None or problem is None:
            return
        size = instance_bytes(problem.instance)
        if size > cap:
            where = "/instance" if getattr(job.spec, "instance", None) is not None else "/instance_ref"
            raise SpecError.at(
                f"{prefix}{where}",
                f"the {job.problem_id} instance is {size} bytes as JSON, over this service's maximum of {cap}",
            )


OPEN_POLICY = SubmitPolicy()
"""No limits, the default tenant: the CLI's own embedded runs."""


def instance_bytes(instance: Any) -> int:
    """Size of an instance (a pydantic model or plain data) as compact JSON, in bytes."""
    dump = getattr(instance, "model_dump_json", None)
    if callable(dump):
        return len(str(dump()).encode())
    return len(json.dumps(instance, separators=(",", ":"), default=str).encode())
