"""``surrogates.llm.local.LocalRunner``: a streaming decode loop over the sink cache (greedy and
seeded sampling), incremental feeding of a growing conversation, and flat memory."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from surrogates.llm.local import IncrementalDecoder, LocalRunner, pick_token
from surrogates.llm.runner import ChatMessage, ChatRunner, complete

CHAT: list[ChatMessage] = [{"role": "user", "content": "Plan a network with three sites."}]


def runner(model: Any, tokenizer: Any, **options: Any) -> LocalRunner:
    return LocalRunner(model, tokenizer, sinks=4, window=60, prefill_chunk=16, **options)


def test_streams_text_greedily_and_reproducibly(tiny_model: Any, tokenizer: Any) -> None:
    first = runner(tiny_model, tokenizer)
    assert isinstance(first, ChatRunner)
    pieces = list(first.stream_chat(CHAT, max_new_tokens=12))
    assert pieces
    assert all(isinstance(p, str) for p in pieces)
    again = complete(runner(tiny_model, tokenizer), CHAT, 12)
    assert "".join(pieces) == again


def test_seeded_sampling_is_reproducible(tiny_model: Any, tokenizer: Any) -> None:
    def sample(seed: int) -> str:
        return complete(runner(tiny_model, tokenizer), CHAT, 16, temperature=1.5, top_p=0.95, seed=seed)

    assert sample(7) == sample(7)
    assert len({sample(s) for s in range(4)}) > 1


def test_a_long_conversation_is_fed_incrementally_with_flat_memory(tiny_model: Any, tokenizer: Any) -> None:
    chat = runner(tiny_model, tokenizer)
    messages: list[ChatMessage] = []
    for turn in range(6):
        messages.append({"role": "user", "content": f"Turn {turn}: add a link between site {turn} and the hub."})
        seen_before = chat.cache.seen
        reply = complete(chat, messages, 10)
        prompt_tokens = chat.cache.seen - seen_before
        if turn > 0:  # only the new user turn (and the reply) went in, not the whole chat again
            assert prompt_tokens < 100
        messages.append({"role": "assistant", "content": reply})
        assert chat.cache.get_seq_length() <= 64
    assert chat.cache.seen > 300
    assert chat.cache.nbytes() == 2 * 2 * 64 * 2 * 16 * 4


def test_a_changed_history_resets_the_cache(tiny_model: Any, tokenizer: Any) -> None:
    chat = runner(tiny_model, tokenizer)
    complete(chat, CHAT, 4)
    seen = chat.cache.seen
    complete(chat, [{"role": "user", "content": "Something else entirely."}], 4)
    assert chat.cache.seen < seen + 40  # a fresh cache: only the new chat and reply


def test_stopping_early_forgets_the_partial_state(tiny_model: Any, tokenizer: Any) -> None:
    chat = runner(tiny_model, tokenizer)
    stream = chat.stream_chat(CHAT, max_new_tokens=20)
    next(stream)
    stream.close()
    expected = complete(runner(tiny_model, tokenizer), CHAT, 8)
    assert complete(chat, CHAT, 8) == expected


def test_pick_token_and_decoder(tokenizer: Any) -> None:
    logits = torch.tensor([0.0, 3.0, 1.0])
    assert pick_token(logits, 0.0, 1.0, None) == 1
    generator = torch.Generator().manual_seed(0)
    assert {pick_token(logits, 1.0, 0.5, generator) for _ in range(20)} == {1}
    decoder = IncrementalDecoder(tokenizer)
    ids = tokenizer("é ok", add_special_tokens=False)["input_ids"]
    pieces = [decoder.push(i) for i in ids]
    assert pieces[0] == ""
    assert "".join(pieces) == "é ok"


def test_bad_options(tiny_model: Any, tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="prefill_chunk"):
        LocalRunner(tiny_model, tokenizer, window=8, prefill_chunk=9)
    with pytest.raises(ValueError, match="max_new_tokens"):
        list(runner(tiny_model, tokenizer).stream_chat(CHAT, 0))
