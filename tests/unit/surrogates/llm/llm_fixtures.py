"""Tiny models and a byte-level tokenizer for the LLM runner tests (randomly initialized,
built in milliseconds, nothing downloaded). A uniquely named module, so that tests can import it
whatever other conftest modules are loaded."""

from __future__ import annotations

from typing import Any

import torch

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_llama(layers: int = 2, vocab: int = 258, seed: int = 0) -> Any:
    """A randomly initialized LlamaForCausalLM: ``layers`` layers, hidden 64, 4 heads (2 KV heads)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        eos_token_id=257,
        bos_token_id=256,
        pad_token_id=257,
    )
    return LlamaForCausalLM(config).eval()


def byte_tokenizer() -> Any:
    """A byte-level tokenizer: 256 byte tokens, then ``<|im_start|>`` (256) and ``<|im_end|>`` (257)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab["<|im_start|>"] = 256
    vocab["<|im_end|>"] = 257
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
