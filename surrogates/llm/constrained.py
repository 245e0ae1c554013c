"""JSON-Schema-constrained decoding over a :class:`~surrogates.llm.local.LocalRunner`.

Our own decoder (no maintained library is installed here, and this keeps the decode loop
ours, over the StreamingLLM sink cache): it walks the JSON Schema and writes the document
in compact JSON, one value at a time. Structure is *forced* (``{``, keys in schema order,
``:``, ``,``, ``}``, ``[``, ``]``, quotes: fed to the model as text, so it sees the JSON it is
writing), and every token the model picks is chosen by argmax (greedy, deterministic) among
the tokens that keep the value inside its schema:

- ``const``: forced; ``enum``: up to ``score_options`` options (8) are compared by the
  log-probability of their whole token sequence and of the terminator after them (each fed on
  a copy of the sink cache), more go greedily through a token trie of their compact JSON (an
  option that is a prefix of another ends when the terminator outscores every continuation);
- ``anyOf`` / ``oneOf`` / a list of types: the branch whose opening tokens hold the best
  logit (a string opens with ``"``, an object ``{``, a number a digit, ...);
- ``string``: tokens without quote, backslash or control characters, within
  ``maxLength`` (at most ``max_string``), closing when ``"`` outscores them and
  ``minLength`` is met (``pattern`` is not enforced: pydantic's instance schemas have none);
- ``integer`` / ``number``: digit (``-``, ``.``) tokens whose prefix can still end inside the
  bounds (``minimum``, ``maximum``, exclusive ones) within ``max_number_chars``; it ends when
  the terminator that follows outscores the digits and the number is complete and in bounds;
- ``boolean`` / ``null``: as enums; ``object``: its required properties (optional ones are
  left to their defaults); ``array``: items until ``]`` outscores ``,`` (between
  ``minItems`` and ``maxItems``, at most ``max_items``).

So whatever the model's weights (a randomly initialized one included), the text it writes
parses and validates against the schema. Every token is streamed to ``on_piece``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from surrogates.llm.runner import ChatMessage

__all__ = ["JsonSchemaDecoder", "TokenTable"]

_DIGITS = re.compile(r"^[0-9]+$")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class TokenTable:
    """What each token of ``tokenizer`` writes, and the token sets the decoder picks from;
    ``size`` is the model's vocabulary size (logits may be padded past the tokenizer's)."""

    def __init__(self, tokenizer: Any, size: int) -> None:
        self.tokenizer = tokenizer
        self.size = size
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        count = min(len(tokenizer), size)
        self.texts: list[str] = [
            "" if i in special else tokenizer.decode([i], skip_special_tokens=False) for i in range(count)
        ]
        self.texts += [""] * (size - count)
        string_ok = torch.zeros(size, dtype=torch.bool)
        lengths = torch.zeros(size, dtype=torch.long)
        self.digit_ids: list[int] = []
        for i, text in enumerate(self.texts):
            if not text or "\ufffd" in text:
                continue
            if _DIGITS.match(text):
                self.digit_ids.append(i)
            if '"' not in text and "\\" not in text and all(ord(c) >= 0x20 and ord(c) != 0x7F for c in text):
                string_ok[i] = True
                lengths[i] = len(text)
        self.string_ok = string_ok
        self.lengths = lengths
        self.minus = self.single("-")
        self.dot = self.single(".")
        self.quote = self.single('"')
        singles = {self.texts[i] for i in self.digit_ids if len(self.texts[i]) == 1}
        if singles != set("0123456789"):
            raise ValueError("the tokenizer has no single-digit tokens: numbers cannot be constrained")

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def single(self, text: str) -> int | None:
        """The id of the one token that writes ``text``, if there is one."""
        ids = self.encode(text)
        return ids[0] if len(ids) == 1 and self.texts[ids[0]] == text else None

    def first(self, text: str) -> int:
        return self.encode(text)[0]


class _Bounds:
    def __init__(self, schema: dict[str, Any], integer: bool) -> None:
        self.integer = integer
        self.low = float(schema.get("minimum", -math.inf))
        self.high = float(schema.get("maximum", math.inf))
        self.low_open = "exclusiveMinimum" in schema
        self.high_open = "exclusiveMaximum" in schema
        if self.low_open:
            self.low = max(self.low, float(schema["exclusiveMinimum"]))
        if self.high_open:
            self.high = min(self.high, float(schema["exclusiveMaximum"]))

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def meets(self, lo: float, hi: float) -> bool:
        """Whether ``[lo, hi)`` (``[lo, lo]`` when equal) holds an allowed value."""
        if hi == lo:
            return self.holds(lo)
        below_high = lo < self.high if self.high_open else lo <= self.high
        above_low = hi > self.low
        return below_high and above_low


class JsonSchemaDecoder:
    """Fills JSON Schemas with ``runner``'s model (a :class:`~surrogates.llm.local.LocalRunner`:
    its ``tokenizer``, ``render``, ``reset`` and ``feed_ids`` are used). ``on_piece`` gets every
    piece of text written, forced or chosen."""

    def __init__(
        self,
        runner: Any,
        table: TokenTable | None = None,
        *,
        max_string: int = 48,
        max_items: int = 4,
        max_number_chars: int = 12,
        score_options: int = 8,
    ) -> None:
        self.runner = runner
        vocab = int(runner.model.get_output_embeddings().weight.shape[0])
        self.table = table or TokenTable(runner.tokenizer, vocab)
        self.max_string = max_string
        self.max_items = max_items
        self.max_number_chars = max_number_chars
        self.score_options = score_options
        self.on_piece: Callable[[str], None] = lambda piece: None
        self.check: Callable[[], None] = lambda: None
        self.logits: torch.Tensor = torch.zeros(self.table.size)
        self.root: dict[str, Any] = {}
        self.tokens_written = 0

    # ---- low level -------------------------------------------------------------------------

    def _feed(self, ids: Sequence[int]) -> None:
        if ids:
            self.logits = self.runner.feed_ids(list(ids)).to(torch.float32)[: self.table.size]

    def force(self, text: str) -> None:
        """Write ``text`` as it is."""
        self.check()
        self._feed(self.table.encode(text))
        self.on_piece(text)

    def _take(self, token: int) -> str:
        self._feed([token])
        self.tokens_written += 1
        text = self.table.texts[token]
        self.on_piece(text)
        return text

    def _best(self, ids: Sequence[int]) -> tuple[int, float]:
        index = torch.tensor(list(ids), dtype=torch.long)
        scores = self.logits[index]
        k = int(torch.argmax(scores).item())
        return int(index[k].item()), float(scores[k].item())

    def _score(self, ids: Sequence[int]) -> float:
        return -math.inf if not ids else self._best(ids)[1]

    # ---- entry point -------------------------------------------------------------------------

    def fill(
        self,
        messages: Sequence[ChatMessage],
        schema: dict[str, Any],
        *,
        on_piece: Callable[[str], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> Any:
        """The value the model writes for ``schema`` as the assistant's reply to ``messages``
        (the chat is rendered with the model's template and fed through the runner's cache,
        which keeps memory flat however long the chat). ``check`` runs before each forced
        piece (raise there to stop: a cancel)."""
        self.on_piece = on_piece or (lambda piece: None)
        self.check = check or (lambda: None)
        self.root = schema
        self.runner.reset()
        prompt = self.table.encode(self.runner.render(messages))
        self._feed(prompt)
        return self.value(schema, [])

    # ---- schema walking ------------------------------------------------------------------------

    def deref(self, schema: dict[str, Any]) -> dict[str, Any]:
        for _ in range(64):
            if "$ref" in schema:
                node: Any = self.root
                for part in str(schema["$ref"])[2:].split("/"):
                    node = node[part.replace("~1", "/").replace("~0", "~")]
                schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
            elif "allOf" in schema:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for sub in schema["allOf"]:
                    merged.update(self.deref(sub))
                schema = merged
            else:
                return schema
        raise ValueError("$ref nesting too deep")

    def _branches(self, schema: dict[str, Any]) -> list[dict[str, Any]] | None:
        for key in ("anyOf", "oneOf"):
            if key in schema:
                base = {k: v for k, v in schema.items() if k != key}
                return [{**base, **self.deref(sub)} for sub in schema[key]]
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return [{**schema, "type": kind} for kind in kinds]
        return None

    def openings(self, schema: dict[str, Any]) -> list[int]:
        """The tokens a value of ``schema`` can start with."""
        schema = self.deref(schema)
        branches = self._branches(schema)
        if branches is not None:
            return sorted({t for b in branches for t in self.openings(b)})
        if "const" in schema:
            return [self.table.first(_dumps(schema["const"]))]
        if "enum" in schema:
            return sorted({self.table.first(_dumps(v)) for v in schema["enum"]})
        kind = self._kind(schema)
        if kind in ("integer", "number"):
            bounds = _Bounds(schema, kind == "integer")
            out = [t for t in self.table.digit_ids if self._number_prefix_ok(self.table.texts[t], bounds)]
            if self.table.minus is not None and bounds.low < 0:
                out.append(self.table.minus)
            return out
        first = {"object": "{", "array": "[", "string": '"', "boolean": "t", "null": "null"}.get(kind, "null")
        if kind == "boolean":
            return sorted({self.table.first("true"), self.table.first("false")})
        return [self.table.first(first)]

    @staticmethod
    def _kind(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, str):
            return kind
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return "null"  # a schema without a type takes anything: null is the shortest

    def value(self, schema: dict[str, Any], follow: Sequence[int]) -> Any:
        """Write one value of ``schema``; ``follow`` are the tokens that may come right after it
        (what ends a number, or an enum option that prefixes another)."""
        schema = self.deref(schema)
        branches = self._branches(schema)
        if branches is not None:
            return self.value(self._pick_branch(branches), follow)
        if "const" in schema:
            self.force(_dumps(schema["const"]))
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            return options[self.choose([_dumps(v) for v in options], follow)]
        kind = self._kind(schema)
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return self._array(schema, follow)
        if kind == "string":
            return self._string(schema)
        if kind in ("integer", "number"):
            return self._number(schema, follow, integer=kind == "integer")
        if kind == "boolean":
            return [True, False][self.choose(["true", "false"], follow)]
        self.force("null")
        return None

    def _pick_branch(self, branches: list[dict[str, Any]]) -> dict[str, Any]:
        if len(branches) == 1:
            return branches[0]
        scores = [self._score(self.openings(b)) for b in branches]
        return branches[max(range(len(branches)), key=lambda k: scores[k])]

    def choose(self, options: Sequence[str], follow: Sequence[int]) -> int:
        """Write one of ``options`` (texts); its index. Up to ``score_options`` options are
        compared by the log-probability of their whole token sequence (each fed on a copy of
        the cache); more go token by token through their trie."""
        sequences = [self.table.encode(o) for o in options]
        if 1 < len(options) <= self.score_options:
            return self._choose_scored(sequences, follow)
        alive = list(range(len(options)))
        position = 0
        while True:
            self.check()
            complete = [i for i in alive if len(sequences[i]) == position]
            going = sorted({sequences[i][position] for i in alive if len(sequences[i]) > position})
            if not going:
                return complete[0]
            token, score = self._best(going)
            if complete and self._score(follow) >= score:
                return complete[0]
            self._take(token)
            alive = [i for i in alive if len(sequences[i]) > position and sequences[i][position] == token]
            position += 1

    def _choose_scored(self, sequences: list[list[int]], follow: Sequence[int]) -> int:
        self.check()
        saved_cache, saved_logits = self.runner.cache, self.logits
        best: tuple[float, int, Any, torch.Tensor] | None = None
        for index, sequence in enumerate(sequences):
            self.runner.cache = copy.deepcopy(saved_cache)
            self.logits = saved_logits
            total = 0.0
            for token in sequence:
                total += float(torch.log_softmax(self.logits, dim=-1)[token].item())
                self._feed([token])
            if follow:
                total += float(torch.logsumexp(torch.log_softmax(self.logits, dim=-1)[list(follow)], dim=0).item())
            total /= len(sequence) + (1 if follow else 0)  # per token: long options are not penalized
            if best is None or total > best[0]:
                best = (total, index, self.runner.cache, self.logits)
        assert best is not None
        _, index, self.runner.cache, self.logits = best
        for token in sequences[index]:
            self.tokens_written += 1
            self.on_piece(self.table.texts[token])
        return index

    def _object(self, schema: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = [name for name in properties if name in set(schema.get("required", []))]
        out: dict[str, Any] = {}
        if not required:
            self.force("{}")
            return out
        close = [self.table.first("}")]
        comma = [self.table.first(",")]
        for k, name in enumerate(required):
            self.force(("{" if k == 0 else ",") + _dumps(name) + ":")
            out[name] = self.value(properties[name], comma if k < len(required) - 1 else close)
        self.force("}")
        return out

    def _array(self, schema: dict[str, Any], follow: Sequence[int]) -> list[Any]:
        items: dict[str, Any] = schema.get("items", {}) if isinstance(schema.get("items"), dict) else {}
        least = int(schema.get("minItems", 0))
        most = int(schema.get("maxItems", self.max_items))
        cap = max(least, min(most, self.max_items))
        close = [self.table.first("]")]
        comma = [self.table.first(",")]
        self.force("[")
        out: list[Any] = []
        while len(out) < cap:
            if len(out) >= least:
                going = comma if out else self.openings(items)
                if self._score(close) >= self._score(going):
                    break
            if out:
                self.force(",")
            out.append(self.value(items, comma + close))
        self.force("]")
        del follow
        return out

    def _string(self, schema: dict[str, Any]) -> str:
        least = int(schema.get("minLength", 0))
        most = max(least, min(int(schema.get("maxLength", self.max_string)), self.max_string))
        quote = [self.table.quote if self.table.quote is not None else self.table.first('"')]
        self.force('"')
        text = ""
        while True:
            self.check()
            room = most - len(text)
            allowed = self.table.string_ok & (self.table.lengths <= room)
            if least > len(text):  # keep within reach of maxLength only; any length counts
                pass
            ids = torch.nonzero(allowed).flatten().tolist() if room > 0 else []
            can_end = len(text) >= least
            if not ids:
                break
            token, score = self._best(ids)
            if can_end and self._score(quote) >= score:
                break
            text += self._take(token)
        self.force('"')
        return text

    # ---- numbers ---------------------------------------------------------------------------

    def _number_prefix_ok(self, text: str, bounds: _Bounds) -> bool:
        """Whether the number being written as ``text`` can still end inside ``bounds`` within
        ``max_number_chars`` characters (and is well formed so far)."""
        if len(text) > self.max_number_chars:
            return False
        negative = text.startswith("-")
        body = text[1:] if negative else text
        if body.count(".") > 1 or (bounds.integer and "." in body) or body.startswith("."):
            return False
        if re.match(r"^0[0-9]", body):
            return False
        room = self.max_number_chars - len(text)
        sign = -1.0 if negative else 1.0

        def meets(lo: float, hi: float) -> bool:
            a, b = sorted((sign * lo, sign * hi))
            return bounds.meets(a, b) if a != b else bounds.holds(a)

        if body == "":
            return bounds.low < 0 if negative else True
        if "." in body:
            whole, fraction = body.split(".")
            start = float(f"{whole}.{fraction or '0'}")
            width = 10.0 ** -len(fraction) if room > 0 or not fraction else 0.0
            return meets(start, start + width) if fraction or room > 0 else False
        value = int(body)
        if bounds.holds(sign * value):
            return True
        if not bounds.integer and room >= 2 and meets(value, value + 1):
            return True
        if body == "0":
            return False
        return any(meets(value * 10**k, (value + 1) * 10**k - (1 if bounds.integer else 0)) for k in range(1, room + 1))

    def _number_complete(self, text: str, bounds: _Bounds) -> bool:
        body = text.lstrip("-")
        if not body or body.endswith(".") or re.match(r"^0[0-9]", body):
            return False
        return bounds.holds(float(text))

    def _number(self, schema: dict[str, Any], follow: Sequence[int], *, integer: bool) -> int | float:
        bounds = _Bounds(schema, integer)
        text = ""
        while True:
            self.check()
            candidates = [t for t in self.table.digit_ids if self._number_prefix_ok(text + self.table.texts[t], bounds)]
            if text == "" and self.table.minus is not None and bounds.low < 0:
                candidates.append(self.table.minus)
            dot = self.table.dot
            if (
                dot is not None
                and not integer
                and "." not in text
                and text.lstrip("-")
                and self._number_prefix_ok(text + ".", bounds)
            ):
                candidates.append(dot)
            done = self._number_complete(text, bounds)
            if not candidates:
                if not done:
                    raise RuntimeError(f"number decoding reached a dead end at {text!r}")
                break
            token, score = self._best(candidates)
            if done and self._score(follow) >= score:
                break
            text += self._take(token)
        return int(text) if integer or "." not in text else float(text)
