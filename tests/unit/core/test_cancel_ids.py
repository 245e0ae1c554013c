"""CancelToken hooks and time-sortable ids."""

from __future__ import annotations

import threading
import uuid

from designsvc.core.cancel import CancelToken
from designsvc.core.ids import new_id


def test_cancel_runs_each_registered_hook_once() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    remove_b = token.on_cancel(lambda: calls.append("b"))
    remove_b()
    token.cancel()
    token.cancel()
    assert calls == ["a"]
    assert token.cancelled


def test_hook_registered_after_cancel_runs_at_once() -> None:
    token = CancelToken()
    token.cancel()
    calls: list[int] = []
    token.on_cancel(lambda: calls.append(1))
    assert calls == [1]


def test_cancel_from_another_thread_wakes_a_waiter() -> None:
    token = CancelToken()
    threading.Timer(0.05, token.cancel).start()
    assert token.wait(5.0)


def test_ids_are_uuid7_and_sort_by_creation_time() -> None:
    ids = [new_id() for _ in range(200)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert len(set(ids)) == len(ids)
    # Ids made in later milliseconds sort after earlier ones.
    ms = [uuid.UUID(i).int >> 80 for i in ids]
    assert ms == sorted(ms)
    assert sorted(ids, key=lambda i: uuid.UUID(i).int >> 80) == ids
