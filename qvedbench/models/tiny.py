"""Tiny randomly initialised models of a real family, built offline for tests, demos and CPU experiments.

The result is an ordinary ``from_pretrained`` folder (weights, config, tokenizer, processor, chat template),
so the family's adapter loads it exactly like a downloaded checkpoint. The tokenizer is trained on the
dataset's own text (references, prompts, system prompt), so the small vocabulary fits the data.

A family supports tiny builds when its module (the one that registered its adapter) exposes
``SPECIAL_TOKENS``, ``END_OF_TURN``, ``END_OF_TEXT``, ``CHAT_TEMPLATE``, ``tiny_settings(preset, overrides)``,
``tiny_config(preset, vocab_size, overrides, family=..., token_ids=...)``, ``tiny_processor(family, tokenizer,
settings)`` and ``model_classes(family)``.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from qvedbench.io import RecordError, write_json
from qvedbench.models.base import ModelSpec
from qvedbench.models.common import group_parameter_counts, save_folder_atomically
from qvedbench.models.registry import adapter_class
from qvedbench.models.tokenizer import train_tokenizer

TINY_MANIFEST = "tiny_model.json"


def family_module(family: str):
    """The module that implements ``family``; error if it cannot build tiny models."""
    module = importlib.import_module(adapter_class(family).__module__)
    if not hasattr(module, "tiny_config"):
        raise ValueError(f"model family '{family}' has no tiny-model support (its module lacks tiny_config)")
    return module


def corpus_from_records(records: Iterable[dict], system_prompt: str, source: str = "records") -> list[str]:
    """The tokenizer corpus: the system prompt, then every record's ``reference`` and ``prompt``.

    Repeats are kept on purpose: BPE merges the most frequent pairs first, so common phrases get short codes.
    ``source`` names the records' file in errors.
    """
    corpus = [system_prompt] if system_prompt else []
    for i, record in enumerate(records):
        for field in ("reference", "prompt"):
            value = record.get(field)
            if not isinstance(value, str):
                raise RecordError(source, i, field, f"expected a string, got {type(value).__name__}")
            corpus.append(value)
    return corpus


def build_tiny_model(
    family: str,
    out_dir: str | os.PathLike,
    corpus: Sequence[str],
    preset: str = "s",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Build a seeded random ``family`` model of ``preset`` size into ``out_dir`` and return the folder.

    Writes ``tiny_model.json`` (family, preset, seed, overrides, settings, vocabulary size, and parameter
    counts: ``total``, ``vision``, ``projector`` and ``language``, by the family adapter's trainable groups).
    The same arguments give byte-identical weights. The folder appears complete or not at all.
    """
    module = family_module(family)
    settings = module.tiny_settings(preset, overrides)
    tokenizer = train_tokenizer(
        list(corpus),
        vocab_size=settings["vocab_size"],
        special_tokens=module.SPECIAL_TOKENS,
        eos_token=module.END_OF_TURN,
        pad_token=module.END_OF_TEXT,
        chat_template=module.CHAT_TEMPLATE,
    )
    token_ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in module.SPECIAL_TOKENS}
    config = module.tiny_config(preset, len(tokenizer), overrides, family=family, token_ids=token_ids)
    model_class = module.model_classes(family)[0]
    torch.manual_seed(seed)
    model = model_class(config).eval()
    model.generation_config.pad_token_id = token_ids[module.END_OF_TEXT]
    model.generation_config.eos_token_id = [token_ids[module.END_OF_TURN], token_ids[module.END_OF_TEXT]]
    processor = module.tiny_processor(family, tokenizer, settings)

    out = Path(out_dir)
    adapter = adapter_class(family)(model, processor, ModelSpec(name=out.name, family=family, path=str(out)))
    counts = group_parameter_counts(model, adapter.trainable_groups())
    manifest = {
        "family": family,
        "preset": preset,
        "seed": seed,
        "overrides": dict(overrides or {}),
        "settings": settings,
        "vocab_size": len(tokenizer),
        "parameters": counts,
    }

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        write_json(tmp / TINY_MANIFEST, manifest)

    save_folder_atomically(out, write)
    return out
