"""The job state machine: Hypothesis drives random creates, transitions, cancels and events
against each store and checks, after every step, that the store agrees with a model built
from TRANSITIONS (status, attempts, timestamps, flags, event count and status indexes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from designsvc.core.errors import TransitionConflictError
from designsvc.core.jobs import TRANSITIONS, JobStatus, JobStore

STATUSES = sorted(JobStatus, key=lambda s: s.value)


@dataclass
class ModelJob:
    """What the store should hold for one job."""

    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    events: int = 0
    cancel_requested: bool = False
    has_result: bool = False
    has_error: bool = False
    tagged: bool = False


def _machine(make_store: Callable[[], JobStore]) -> type[RuleBasedStateMachine]:
    class JobMachine(RuleBasedStateMachine):
        jobs = Bundle("jobs")

        def __init__(self) -> None:
            super().__init__()
            self.store: JobStore = make_store()
            self.model: dict[str, ModelJob] = {}

        @rule(target=jobs, tagged=st.booleans())
        def create(self, tagged: bool) -> str:
            record, created = self.store.create_job(
                spec={"n": len(self.model)}, problem="p", tags=["odd"] if tagged else []
            )
            assert created
            self.model[record.id] = ModelJob(tagged=tagged)
            return record.id

        @rule(job=jobs, data=st.data(), new_attempt=st.booleans(), with_result=st.booleans())
        def allowed_transition(self, job: str, data: st.DataObject, new_attempt: bool, with_result: bool) -> None:
            """A move TRANSITIONS allows from the current status (or a conflict when final)."""
            model = self.model[job]
            choices = sorted(TRANSITIONS[model.status], key=lambda s: s.value)
            if not choices:
                with pytest.raises(TransitionConflictError):
                    self.store.transition(job, expected={JobStatus.QUEUED}, to=JobStatus.RUNNING)
                return
            to = data.draw(st.sampled_from(choices), label="to")
            others = [s for s in STATUSES if to in TRANSITIONS[s] and s is not model.status]
            expected = {model.status} | (data.draw(st.sets(st.sampled_from(others)), label="also") if others else set())
            self._transition(job, expected, to, new_attempt, with_result)

        @rule(
            job=jobs,
            expected=st.sets(st.sampled_from(STATUSES), max_size=3),
            to=st.sampled_from(STATUSES),
            new_attempt=st.booleans(),
            with_result=st.booleans(),
        )
        def any_transition(
            self, job: str, expected: set[JobStatus], to: JobStatus, new_attempt: bool, with_result: bool
        ) -> None:
            self._transition(job, expected, to, new_attempt, with_result)

        def _transition(
            self, job: str, expected: set[JobStatus], to: JobStatus, new_attempt: bool, with_result: bool
        ) -> None:
            model = self.model[job]
            result = {"to": to.value} if with_result else None
            error = {"type": "E", "message": "x"} if to is JobStatus.FAILED else None
            if not expected or any(to not in TRANSITIONS[s] for s in expected):
                with pytest.raises(ValueError, match=r"TRANSITIONS|expected"):
                    self.store.transition(job, expected=expected, to=to, result=result, new_attempt=new_attempt)
                return
            if model.status not in expected:
                with pytest.raises(TransitionConflictError):
                    self.store.transition(job, expected=expected, to=to, result=result, new_attempt=new_attempt)
                return
            record = self.store.transition(
                job, expected=expected, to=to, result=result, error=error, new_attempt=new_attempt
            )
            model.status = to
            model.attempts += int(new_attempt)
            model.events += 1
            model.cancel_requested |= to is JobStatus.CANCELING
            model.has_result |= with_result
            model.has_error |= error is not None
            assert record.status is to
            assert record.attempts == model.attempts

        @rule(job=jobs)
        def cancel(self, job: str) -> None:
            model = self.model[job]
            record = self.store.request_cancel(job)
            if model.status is JobStatus.QUEUED:
                model.status = JobStatus.CANCELED
                model.events += 1
                model.has_error = True
                model.cancel_requested = True
            elif model.status is JobStatus.RUNNING:
                model.status = JobStatus.CANCELING
                model.events += 1
                model.cancel_requested = True
            elif model.status is JobStatus.CANCELING:
                model.cancel_requested = True
            assert record.status is model.status

        @rule(job=jobs)
        def event(self, job: str) -> None:
            model = self.model[job]
            model.events += 1
            assert self.store.append_event(job, "progress", {"n": model.events}).id == model.events

        @invariant()
        def store_agrees_with_the_model(self) -> None:
            for job_id, model in self.model.items():
                record = self.store.get_job(job_id)
                assert record.status is model.status
                assert record.attempts == model.attempts
                assert (record.finished_at is not None) == model.status.terminal
                assert (record.started_at is not None) == (model.attempts > 0)
                assert record.cancel_requested == model.cancel_requested
                assert (record.result is not None) == model.has_result
                assert (record.error is not None) == model.has_error
                assert record.created_at <= record.updated_at
                events = self.store.read_events(job_id)
                assert [e.id for e in events] == list(range(1, model.events + 1))
            for status in STATUSES:
                listed = [job.id for job in self.store.list_jobs(status=status, limit=1000).items]
                assert listed == [j for j, m in self.model.items() if m.status is status]
            odd = [job.id for job in self.store.list_jobs(tag="odd", status=JobStatus.QUEUED, limit=1000).items]
            assert odd == [j for j, m in self.model.items() if m.tagged and m.status is JobStatus.QUEUED]

        def teardown(self) -> None:
            self.store.close()

    return JobMachine


def test_store_follows_the_job_state_machine(make_store: Callable[[], JobStore]) -> None:
    run_state_machine_as_test(
        _machine(make_store),
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
