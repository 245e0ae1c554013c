"""The error a runner raises when its model cannot be set up (missing package, bad path)."""

from __future__ import annotations

__all__ = ["ModelSetupError"]


class ModelSetupError(RuntimeError):
    """A model cannot be found or loaded; the message says what to install or fix."""
