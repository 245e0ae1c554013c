"""Plug-in options validated by a pydantic model, with the error form the spec validator
turns into a JSON pointer (``option 'name': message`` -> ``.../options/name``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["parse_options"]

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_options(model: type[ModelT], options: Mapping[str, Any]) -> ModelT:
    """``options`` validated by ``model``; ValueError ``option 'name': message`` naming the
    first bad option."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "options"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(f"option '{name}': {message}") from exc
