"""The kind form is grounded in the conversation like the draft form."""

from __future__ import annotations

from designsvc.agent.forms import NONE_OF_THESE, kind_choices, kind_schema, named_kinds


def test_a_kind_is_named_by_its_words_its_builtins_or_its_own_proposer() -> None:
    assert named_kinds(["Shard 40 embedding tables over 4 GPUs, make the step fast."]) == ["table-sharding@1"]
    assert named_kinds(["Run gap-10x3 with scip."]) == ["assignment@1"]
    assert named_kinds(["Use czp-search on my design."]) == ["antenna@1"]
    assert named_kinds(["Hello there."]) == []


def test_the_kind_form_offers_only_the_named_kinds_or_all_when_none_is_named() -> None:
    titles = {kind: title for title, kind in kind_choices().items()}
    grounded = kind_schema(["a wire antenna matched in the 2.4 GHz band"])["properties"]["problem"]["enum"]
    assert grounded == [titles["antenna@1"]]
    everything = kind_schema(["hello"])["properties"]["problem"]["enum"]
    assert set(everything) == {*titles.values(), NONE_OF_THESE}


def test_numbers_tied_to_a_field_by_the_users_words() -> None:
    from designsvc.agent.forms import cued_numbers, draft_schema

    assert cued_numbers(["run gap-40x5 with a time limit of 30 seconds, seed 4"]) == ([30.0], [4.0])
    assert cued_numbers(["2 minutes at most"]) == ([120.0], [])
    assert cued_numbers(["in one minute"]) == ([60.0], [])
    assert cued_numbers(["matched to an S11 target, 45 seconds"]) == ([45.0], [])
    assert cued_numbers(["dlrm-30x4 on 8 devices"]) == ([], [])  # digits inside names are no numbers
    form = draft_schema("assignment@1", ["gap-10x3, 20 items, 45 seconds, seed 7"])["properties"]
    assert form["time_limit_s"] == {"enum": [45]}  # the stated limit, not null
    assert form["seed"] == {"enum": [7]}
    tied = draft_schema("assignment@1", ["gap-10x3 with 20 items"])["properties"]
    assert tied["time_limit_s"] == {"type": "null"}  # 20 belongs to the items, not to the time limit
    free = draft_schema("assignment@1", ["gap-10x3, limit 45"])["properties"]
    assert free["time_limit_s"] == {"enum": [45, None]}  # no unit: the model decides, and may leave it unset


def test_numbers_tied_to_a_generated_instances_sizes() -> None:
    from designsvc.agent.forms import size_cues

    sizes = ["tables", "devices", "memory_gb"]
    got = size_cues(sizes, ["Shard 40 embedding tables over 4 GPUs with 16 GB each"])
    assert got == {"tables": [40.0], "devices": [4.0], "memory_gb": [16.0]}
    assert size_cues(["items", "bins"], ["assign 50 items into 6 capacitated bins"]) == {"items": [50.0], "bins": [6.0]}
    assert size_cues(["items", "bins"], ["gap-10x3 please"]) == {}


def test_a_generated_instance_is_offered_when_only_tied_numbers_give_its_sizes() -> None:
    from designsvc.agent.forms import draft_schema

    form = draft_schema("assignment@1", ["Items into bins: 20 items, 4 bins, solver highs."])["properties"]
    branches = form["instance"]["anyOf"]
    generate = next(b for b in branches if "properties" in b)["properties"]["generate"]["properties"]
    assert generate["items"] == {"enum": [20]}
    assert generate["bins"] == {"enum": [4]}
