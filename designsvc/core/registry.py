"""Lazy, collision-checked plug-in registries.

A registry maps names to ``"module:Class"`` strings; nothing is imported until a name is
loaded (Gymnasium's rule), so listing problems never loads a solver backend. Third-party
packages add plug-ins through entry points (``designsvc.problems``, ``designsvc.solvers``,
``designsvc.proposers``); a name registered twice raises :class:`RegistryError` naming both
targets (nevergrad's rule), whether the clash is between built-ins or with a plug-in.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from designsvc.core.errors import RegistryError, UnknownNameError

__all__ = ["Registry"]

T = TypeVar("T")

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class Registry(Generic[T]):
    """Names -> lazily imported plug-in classes.

    ``what`` names the kind of plug-in in messages ("problem kind", "solver"); ``group`` is
    the entry-point group; ``base`` the class every plug-in must subclass; ``name_pattern``
    the form names must have; ``name_of`` reads the name a loaded class declares, which must
    equal the registered name.
    """

    def __init__(
        self,
        *,
        what: str,
        group: str,
        base: type,
        name_pattern: str,
        name_of: Callable[[type[T]], str],
    ) -> None:
        self.what = what
        self.group = group
        self.base = base
        self._pattern = re.compile(name_pattern)
        self._name_of = name_of
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, type[T]] = {}
        self._entry_points_loaded = False
        self._lock = threading.RLock()

    def register(self, name: str, target: str) -> None:
        """Register ``target`` (``"package.module:Class"``) under ``name``."""
        if not self._pattern.fullmatch(name):
            raise RegistryError(f"invalid {self.what} name {name!r} (must match {self._pattern.pattern})")
        if not _TARGET.fullmatch(target):
            raise RegistryError(f"invalid target {target!r} for {self.what} {name!r} (use 'module:Class')")
        with self._lock:
            existing = self._targets.get(name)
            if existing is not None:
                raise RegistryError(f"{self.what} {name!r} is registered twice: {existing} and {target}")
            self._targets[name] = target

    def _load_entry_points(self) -> None:
        with self._lock:
            if self._entry_points_loaded:
                return
            self._entry_points_loaded = True
            for ep in entry_points(group=self.group):
                self.register(ep.name, ep.value)

    def names(self) -> list[str]:
        """Every registered name, sorted (built-ins and entry points)."""
        self._load_entry_points()
        return sorted(self._targets)

    def target(self, name: str) -> str:
        """The ``module:Class`` string registered under ``name``."""
        self._load_entry_points()
        try:
            return self._targets[name]
        except KeyError:
            raise UnknownNameError(self.what, name, self.names()) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def load(self, name: str) -> type[T]:
        """Import and return the class registered under ``name``."""
        target = self.target(name)
        with self._lock:
            cached = self._loaded.get(name)
            if cached is not None:
                return cached
            module_name, _, attr = target.partition(":")
            try:
                module = importlib.import_module(module_name)
                cls = getattr(module, attr)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(f"cannot load {self.what} {name!r} from {target}: {exc}") from exc
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise RegistryError(f"{target} is not a {self.base.__name__} subclass")
            plugin = cast("type[T]", cls)
            declared = self._name_of(plugin)
            if declared != name:
                raise RegistryError(f"{target} declares the name {declared!r}, registered as {name!r}")
            self._loaded[name] = plugin
            return plugin
