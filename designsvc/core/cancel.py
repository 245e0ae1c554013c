"""Cooperative cancellation shared between the caller's thread and a running solver."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CancelToken"]


class CancelToken:
    """Thread-safe cancel flag with interrupt hooks.

    A solver registers its backend's interrupt (``Highs.cancelSolve``, CP-SAT
    ``stop_search``) with :meth:`on_cancel` for the duration of a solve; :meth:`cancel` from
    any thread sets the flag and calls every registered hook once. A hook registered after
    cancellation runs at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._hooks: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            hooks = list(self._hooks.values())
        for hook in hooks:
            hook()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until cancelled or ``timeout_s`` passes; True when cancelled."""
        return self._event.wait(timeout_s)

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register ``hook``; returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                hook_id = self._next_id
                self._next_id += 1
                self._hooks[hook_id] = hook

                def remove() -> None:
                    with self._lock:
                        self._hooks.pop(hook_id, None)

                return remove
        hook()
        return lambda: None
