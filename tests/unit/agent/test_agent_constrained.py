"""Constrained decoding writes schema-valid JSON whatever the weights: a randomly initialized
tiny Llama fills every registered kind's instance schema and draft form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tiny import tiny_runner

from designsvc.agent.forms import NONE_OF_THESE, draft_schema, kind_choices, kind_schema
from designsvc.core.plugins import PROBLEMS
from surrogates.llm.constrained import JsonSchemaDecoder
from surrogates.llm.schema_check import builtin_schema_errors

CHAT = [{"role": "user", "content": "40 tables on four GPUs of 16 GB, solve with cpsat in 2 minutes, seed 7"}]


@pytest.fixture(scope="module")
def decoders() -> list[JsonSchemaDecoder]:
    return [JsonSchemaDecoder(tiny_runner(seed)) for seed in range(3)]


def _fill(decoder: JsonSchemaDecoder, schema: dict[str, Any]) -> tuple[Any, str]:
    pieces: list[str] = []
    value = decoder.fill(CHAT, schema, on_piece=pieces.append)
    return value, "".join(pieces)


@pytest.mark.parametrize("kind", PROBLEMS.names())
def test_instance_schema_of_every_kind(kind: str, decoders: list[JsonSchemaDecoder]) -> None:
    schema = PROBLEMS.load(kind).instance_schema.model_json_schema()
    for decoder in decoders:
        value, text = _fill(decoder, schema)
        assert json.loads(text) == value  # what streamed is the value, and it parses
        assert builtin_schema_errors(value, schema) == [], text


@pytest.mark.parametrize("kind", PROBLEMS.names())
def test_draft_form_of_every_kind(kind: str, decoders: list[JsonSchemaDecoder]) -> None:
    schema = draft_schema(kind, [CHAT[0]["content"]])
    for decoder in decoders:
        value, text = _fill(decoder, schema)
        assert json.loads(text) == value
        assert builtin_schema_errors(value, schema) == [], text


def test_kind_form(decoders: list[JsonSchemaDecoder]) -> None:
    schema = kind_schema()
    for decoder in decoders:
        value, text = _fill(decoder, schema)
        assert json.loads(text) == value
        assert value["problem"] in [*kind_choices(), NONE_OF_THESE]


def test_bounded_numbers_and_strings(decoders: list[JsonSchemaDecoder]) -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "minimum": 10, "maximum": 12},
            "b": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
            "c": {"type": "integer", "minimum": -5, "maximum": -3},
            "d": {"type": "string", "minLength": 2, "maxLength": 3},
            "e": {"type": "array", "items": {"enum": ["x", "xy", 4]}, "minItems": 2, "maxItems": 3},
            "f": {"anyOf": [{"type": "null"}, {"type": "boolean"}, {"const": "k"}]},
        },
        "required": ["a", "b", "c", "d", "e", "f"],
    }
    for decoder in decoders:
        value, text = _fill(decoder, schema)
        assert json.loads(text) == value
        assert builtin_schema_errors(value, schema) == [], text


def test_over_long_chat_streams_through_the_window(decoders: list[JsonSchemaDecoder]) -> None:
    """A chat far longer than the cache (window 60 slots) is streamed through it, no crash."""
    long_chat = [{"role": "user", "content": "forty tables please " * 400}]
    value = decoders[0].fill(long_chat, kind_schema())
    assert value["problem"] in [*kind_choices(), NONE_OF_THESE]
    assert decoders[0].runner.cache.get_seq_length() <= 64
