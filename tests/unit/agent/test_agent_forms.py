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
