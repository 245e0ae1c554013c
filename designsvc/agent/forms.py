"""The agent's forms: the JSON Schemas its model fills, and the spec assembled from them.

A turn fills at most two forms, each a JSON Schema that the backend's constrained decoder
follows token by token (so every value it writes is inside the schema):

- :func:`kind_schema`: ``{"problem": <one of the registered kinds, or "unknown">}``, only
  while the session has no problem kind;
- :func:`draft_schema`: the kind's draft: ``instance`` (a builtin instance of the kind, a
  ``{"generate": {seed/size parameters}}`` object, or ``"unknown"``), ``solver``,
  ``proposer``, ``time_limit_s``, ``seed``, ``compare_baselines``.

Values are *grounded* in the conversation: a number field can only take a number written in
the user's messages (``"2 minutes"`` also offers 120) or ``null`` (the default), and a
solver, proposer or builtin instance only a name the user wrote (or the default). The model
decides which mentioned value goes where, and whether a mention means that field at all;
it cannot invent a value the user never gave. :func:`assemble_spec` turns a draft into a
spec document (``instance_ref`` ``builtin:NAME`` or ``generate:seed=N,...``), or says which
required fields are still missing; the caller validates it with the service's
``resolve_spec`` (pydantic instance schema, pointer errors).

The forms are checked against their schemas by
:func:`surrogates.llm.schema_check.builtin_schema_errors` (the tests, and the HTTP runner).

This module imports no torch and no plug-in at import time; the functions that need the
registered kinds load them through the registries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from designsvc.core.plugins import PROBLEMS, PROPOSERS, SOLVERS
from designsvc.core.types import JsonDict

__all__ = [
    "NONE_OF_THESE",
    "UNKNOWN",
    "assemble_spec",
    "cued_numbers",
    "draft_instruction",
    "draft_schema",
    "extract_numbers",
    "generate_sizes",
    "kind_choices",
    "kind_instruction",
    "kind_schema",
    "mentioned",
    "merge_drafts",
    "named_kinds",
    "size_cues",
]

UNKNOWN = "unknown"
"""The value of a required field the conversation does not give."""

_SEED_MAX = 2**31 - 1
_TIME_LIMIT_MAX = 7 * 24 * 3600.0
_SIZE_MAX = 100_000
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "sixteen": 16,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "hundred": 100,
}
_UNITS_S = {"min": 60, "mins": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600}
_SOLVER_ALIASES = {
    "cpsat": ("cp-sat", "cp sat", "cpsat", "or-tools", "ortools"),
    "highs": ("highs",),
    "scip": ("scip",),
}


# ---- grounding ---------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """Lowercase words and numbers of ``text``; names such as dlrm-30x4, gap-10x3 or
    table-sharding@1 hold digits that are no numbers and are dropped."""
    lowered = re.sub(r"[\w.]*[a-z][\w.]*[-@][\w.@-]*\d[\w.@-]*|@\d+", " ", text.lower())
    return re.findall(r"\d+(?:\.\d+)?|[a-z]+", lowered)


_SECONDS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, **_UNITS_S}


def cued_numbers(texts: Iterable[str]) -> tuple[list[float], list[float]]:
    """The numbers the user's words tie to a field: ``(durations in seconds, seeds)``; a
    duration is a number before a time unit (``30 seconds``, ``2 minutes``, ``a minute``),
    a seed a number right after the word ``seed``; first mention first."""
    durations: list[float] = []
    seeds: list[float] = []
    for text in texts:
        tokens = _tokens(text)
        for k, token in enumerate(tokens):
            nxt = tokens[k + 1] if k + 1 < len(tokens) else ""
            value = float(token) if token[0].isdigit() else _NUMBER_WORDS.get(token)
            if token in {"a", "an", "one"} and nxt in _SECONDS and nxt != "s":  # "a minute", not "an S11"
                value = 1.0
            if value is None:
                continue
            if nxt in _SECONDS and float(value) * _SECONDS[nxt] not in durations:
                durations.append(float(value) * _SECONDS[nxt])
            if k > 0 and tokens[k - 1] == "seed" and float(value) not in seeds:
                seeds.append(float(value))
    return durations, seeds


_SIZE_ALIASES: dict[str, tuple[str, ...]] = {
    "devices": ("devices", "device", "gpus", "gpu", "accelerators", "accelerator"),
    "nodes": ("nodes", "node", "routers", "router"),
}


def size_cues(sizes: Sequence[str], texts: Iterable[str]) -> dict[str, list[float]]:
    """The numbers the user's words tie to a generated instance's size parameter: a number
    within three words before the parameter's name (``50 items``, ``6 capacitated bins``,
    no other number between), its singular, an alias
    (``4 GPUs`` for ``devices``) or the unit after its last underscore (``16 GB`` for
    ``memory_gb``); first mention first."""
    words: dict[str, str] = {}
    for size in sizes:
        forms = {size, size.removesuffix("s"), *_SIZE_ALIASES.get(size, ())}
        if "_" in size:
            forms.add(size.rsplit("_", 1)[1])
        for form in forms:
            words.setdefault(form, size)
    cues: dict[str, list[float]] = {}
    for text in texts:
        tokens = _tokens(text)
        for k, token in enumerate(tokens):
            value = float(token) if token[0].isdigit() else _NUMBER_WORDS.get(token)
            if value is None:
                continue
            # the name within the next three words, before any other number ("40 embedding tables")
            for nxt in tokens[k + 1 : k + 4]:
                if nxt[0].isdigit() or nxt in _NUMBER_WORDS:
                    break
                named = words.get(nxt)
                if named is not None:
                    if float(value) not in cues.setdefault(named, []):
                        cues[named].append(float(value))
                    break
    return cues


def extract_numbers(texts: Iterable[str]) -> list[float]:
    """The numbers written in ``texts`` (digits, and the words one..hundred), plus their value
    in seconds after a minute or hour unit (``"2 minutes"`` -> 2 and 120), first mention first."""
    found: list[float] = []

    def add(value: float) -> None:
        if value not in found:
            found.append(value)

    for text in texts:
        tokens = _tokens(text)
        for k, token in enumerate(tokens):
            unit = tokens[k + 1] if k + 1 < len(tokens) else ""
            if token in {"a", "an"}:
                if unit in _UNITS_S:
                    add(float(_UNITS_S[unit]))
                continue
            if token[0].isdigit():
                value = float(token)
            elif token in _NUMBER_WORDS:
                value = float(_NUMBER_WORDS[token])
            else:
                continue
            add(value)
            if unit in _UNITS_S:
                add(value * _UNITS_S[unit])
    return found


def mentioned(
    names: Sequence[str], texts: Iterable[str], aliases: dict[str, tuple[str, ...]] | None = None
) -> list[str]:
    """The ``names`` that ``texts`` mention (case-insensitively, as whole words or by an alias)."""
    joined = "\n".join(texts).lower()
    out: list[str] = []
    for name in names:
        forms = (aliases or {}).get(name, (name.lower(),))
        if any(re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", joined) for form in forms):
            out.append(name)
    return out


def _grounded_number(
    values: Sequence[float], *, integer: bool, low: float, high: float, low_inclusive: bool, optional: bool = True
) -> JsonDict:
    ok = [v for v in values if (v >= low if low_inclusive else v > low) and v <= high and (not integer or v == int(v))]
    choices: list[Any] = [int(v) if v == int(v) else v for v in ok]
    if choices and not optional:
        return {"enum": choices}
    return {"enum": [*choices, None]} if choices else {"type": "null"}


# ---- the forms -----------------------------------------------------------------------------


NONE_OF_THESE = "none of these"


def kind_choices() -> dict[str, str]:
    """What the kind form offers: each registered kind's title (the model recognizes the
    user's words in a title better than in an id) -> its id."""
    return {PROBLEMS.load(name).title: name for name in PROBLEMS.names()}


_KIND_WORD = re.compile(r"[a-z][a-z0-9]{4,}")
_COMMON_WORDS = frozenset({"design", "under", "minimum", "least", "given", "their", "within", "target"})


def named_kinds(user_texts: Sequence[str]) -> list[str]:
    """The kinds the conversation names, best first: by a builtin instance of the kind
    (weight 3), a proposer that serves that kind alone (3), or a word of five letters or
    more of the kind's id or title (1 each: ``sharding``, ``antenna``, ``photonic``...);
    only the kinds with the top score; empty when none is named."""
    joined = "\n".join(user_texts).lower()
    words = set(re.findall(r"[a-z][a-z0-9]+", joined))
    scores: dict[str, int] = {}
    for name in PROBLEMS.names():
        cls = PROBLEMS.load(name)
        keys = set(_KIND_WORD.findall(f"{name.split('@')[0].replace('-', ' ')} {cls.title.lower()}"))
        score = sum(1 for k in keys - _COMMON_WORDS if k in words or (len(k) > 6 and k[:-1] in words))
        score += 3 * len(mentioned(sorted(cls.builtin_instances()), user_texts))
        score += 3 * len(mentioned(_proposers_for(name, only=True), user_texts))
        if score:
            scores[name] = score
    top = max(scores.values(), default=0)
    return [name for name in sorted(scores) if scores[name] == top]


def kind_schema(user_texts: Sequence[str] = ()) -> JsonDict:
    """The form of the problem kind: one registered kind's title, or ``"none of these"``
    (:func:`kind_choices` maps a title to its kind). Grounded like the draft: when the
    conversation names kinds (:func:`named_kinds`), only those are offered (measured on the
    bench's 30 requests before this rule: the 135M model chose the right kind among all
    five in few of them); otherwise every kind and ``"none of these"``."""
    choices = kind_choices()
    named = set(named_kinds(user_texts))
    titles = [title for title, kind in choices.items() if kind in named] or [*choices, NONE_OF_THESE]
    return {
        "type": "object",
        "properties": {"problem": {"enum": titles}},
        "required": ["problem"],
    }


def kind_instruction() -> str:
    """What the model is asked before it fills :func:`kind_schema`."""
    lines = [f"- {title}" for title in kind_choices()]
    return (
        "Which kind of design problem does the user describe? The kinds:\n"
        + "\n".join(lines)
        + f'\nAnswer with JSON {{"problem": KIND}}; KIND is "{NONE_OF_THESE}" when none fits.'
    )


def generate_sizes(kind: str) -> list[str]:
    """The size parameters of the kind's ``generate`` (asked from the kind itself: an unknown
    parameter's error lists them); empty when it does not say."""
    cls = PROBLEMS.load(kind)
    try:
        cls.generate(seed=0, __agent_probe__=1)
    except (TypeError, ValueError) as exc:
        match = re.search(r"takes ([a-z_, ]+)$", str(exc))
        if match:
            return [s.strip() for s in match.group(1).split(",") if s.strip()]
    return []


def _proposers_for(kind: str, *, only: bool = False) -> list[str]:
    """The proposers that serve ``kind`` (any-kind proposers too), or with ``only`` those
    that serve ``kind`` alone; a proposer that cannot load is not offered."""
    names = []
    for name in PROPOSERS.names():
        try:
            kinds = PROPOSERS.load(name).problems
        except Exception:
            continue
        if (kinds is not None and set(kinds) == {kind}) if only else (kinds is None or kind in kinds):
            names.append(name)
    return names


def draft_schema(kind: str, user_texts: Sequence[str]) -> JsonDict:
    """The draft form of ``kind``, grounded in ``user_texts`` (see the module docstring)."""
    cls = PROBLEMS.load(kind)
    numbers = extract_numbers(user_texts)
    durations, seeds = cued_numbers(user_texts)
    builtins = mentioned(sorted(cls.builtin_instances()), user_texts)
    sizes = generate_sizes(kind)
    cues = size_cues(sizes, user_texts)
    # A number the words tie to one field is not offered to another.
    tied = {*durations, *seeds, *(v for values in cues.values() for v in values)}
    numbers = [v for v in numbers if v not in tied]
    size_schema = _grounded_number(numbers, integer=True, low=0, high=_SIZE_MAX, low_inclusive=True)
    generate: JsonDict = {
        "type": "object",
        # A size the words tie to a number (``50 items``) takes it; the model chooses the
        # others among the numbers written (measured before this rule: it left the sizes at
        # null in 6 of the bench's 30 requests).
        "properties": {
            size: (
                _grounded_number(cues[size], integer=True, low=0, high=_SIZE_MAX, low_inclusive=True, optional=False)
                if cues.get(size)
                else size_schema
            )
            for size in sizes
        },
        "required": list(sizes),
    }
    # A builtin the user names is the instance (measured: offering the generated branch
    # beside a named builtin, the 135M model took it in 11 of the 30 bench requests);
    # "unknown" and a generated instance are offered only when none is named.
    instance: list[JsonDict] = [{"enum": builtins if builtins else [UNKNOWN]}]
    if not builtins and sizes and (size_schema != {"type": "null"} or cues):
        instance.append({"type": "object", "properties": {"generate": generate}, "required": ["generate"]})
    solvers = mentioned(SOLVERS.names(), user_texts, _SOLVER_ALIASES)
    proposers = mentioned(_proposers_for(kind), user_texts)
    properties: JsonDict = {
        "instance": {"anyOf": instance} if len(instance) > 1 else instance[0],
        "solver": {"enum": ["default", *solvers]},
        # A proposer the user names is the proposer (like a named builtin instance).
        "proposer": {"enum": proposers if proposers else ["none"]},
        # A number the words tie to the field (``30 seconds``, ``seed 4``) is its value; the
        # model chooses only among the numbers written elsewhere (measured before this rule:
        # it left a stated time limit at null in 8 of the bench's 30 requests).
        "time_limit_s": _grounded_number(
            durations or numbers,
            integer=False,
            low=0,
            high=_TIME_LIMIT_MAX,
            low_inclusive=False,
            optional=not durations,
        ),
        "seed": _grounded_number(
            seeds or numbers, integer=True, low=0, high=_SEED_MAX, low_inclusive=True, optional=not seeds
        ),
        "compare_baselines": {"enum": [False, True]} if _mentions_baselines(user_texts) else {"const": False},
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def _mentions_baselines(texts: Iterable[str]) -> bool:
    return any(re.search(r"baseline|heuristic|compar", text, re.IGNORECASE) for text in texts)


def draft_instruction(kind: str) -> str:
    """What the model is asked before it fills :func:`draft_schema`."""
    cls = PROBLEMS.load(kind)
    sizes = generate_sizes(kind)
    builtins = ", ".join(sorted(cls.builtin_instances()))
    return (
        f"Write the {kind} job spec the user asks for, as JSON. Fields:\n"
        f'- instance: a builtin instance name ({builtins}), or {{"generate": {{{", ".join(sizes)}}}}} '
        f'for a generated instance of that size (null for a size the user did not give), or "{UNKNOWN}";\n'
        '- solver: highs, cpsat or scip ("default" if the user did not name one);\n'
        '- proposer: the learned proposer the user names ("none" otherwise);\n'
        "- time_limit_s: the time limit in seconds, or null;\n"
        "- seed: the random seed, or null;\n"
        "- compare_baselines: true only if the user wants a comparison with the baselines.\n"
        "Use only values the user gave."
    )


# ---- drafts and specs ------------------------------------------------------------------------


def merge_drafts(old: JsonDict, new: JsonDict) -> JsonDict:
    """``new`` over ``old``, except where ``new`` says nothing (null, "unknown", "default",
    "none", false): a later turn refines the draft, it does not forget what an earlier one got
    (the model may no longer see the early turns once they leave its window)."""
    merged = dict(old)
    for key, value in new.items():
        if value in (None, UNKNOWN, "default", "none", False):
            merged.setdefault(key, value)
            continue
        if key == "instance" and isinstance(value, dict) and isinstance(old.get(key), dict):
            sizes = dict(old[key].get("generate", {}))
            sizes.update({k: v for k, v in value.get("generate", {}).items() if v is not None})
            merged[key] = {"generate": sizes}
        else:
            merged[key] = value
    return merged


def assemble_spec(kind: str, draft: JsonDict) -> tuple[JsonDict | None, list[str]]:
    """The spec document of ``draft`` and the required fields still missing (JSON pointers);
    the spec is None while something required is missing."""
    instance = draft.get("instance", UNKNOWN)
    seed = draft.get("seed")
    spec: JsonDict = {"problem": kind}
    if isinstance(instance, dict):
        sizes = {k: int(v) for k, v in instance.get("generate", {}).items() if v is not None}
        args = ",".join([f"seed={int(seed) if seed is not None else 0}", *(f"{k}={v}" for k, v in sizes.items())])
        spec["instance_ref"] = f"generate:{args}"
    elif isinstance(instance, str) and instance != UNKNOWN:
        spec["instance_ref"] = f"builtin:{instance}"
    else:
        return None, ["/instance_ref"]
    solver = draft.get("solver", "default")
    spec["solver"] = {"name": "highs" if solver in (None, "default") else solver, "options": {}}
    proposer = draft.get("proposer", "none")
    spec["proposer"] = None if proposer in (None, "none") else {"name": proposer, "options": {}}
    limits: JsonDict = {}
    if draft.get("time_limit_s") is not None:
        limits["time_limit_s"] = draft["time_limit_s"]
    if seed is not None:
        limits["seed"] = int(seed)
    if limits:
        spec["limits"] = limits
    spec["compare_baselines"] = bool(draft.get("compare_baselines", False))
    spec["tags"] = ["agent"]
    return spec, []


def dumps(value: Any) -> str:
    """Compact JSON, as the decoder writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
