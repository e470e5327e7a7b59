"""Train a small byte-level BPE tokenizer offline, for tiny models whose vocabulary fits the dataset text.

The BPE is trained with the ``tokenizers`` library using the same pre-tokenisation as Qwen2 (its split regex
then byte-level mapping), so every string stays encodable whatever the corpus held, and is then wrapped as
the family's fast tokenizer class so it saves and loads with ``save_pretrained`` / ``from_pretrained`` like a
real checkpoint's tokenizer.
"""
from __future__ import annotations

import json
from typing import Iterable, Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Tokenizer

# Qwen2's pre-tokenisation split (transformers' Qwen2Tokenizer uses the same pattern).
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def _train_bpe(corpus: Iterable[str], vocab_size: int, special_tokens: Sequence[str]) -> tuple[dict, list]:
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer)
    state = json.loads(bpe.to_str())["model"]
    # Merges come back as [a, b] lists (or "a b" strings in older releases); the wrapper wants tuples.
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in state["merges"]]
    return state["vocab"], merges


def train_tokenizer(
    corpus: Sequence[str],
    vocab_size: int = 1024,
    special_tokens: Sequence[str] = ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    *,
    eos_token: str | None = None,
    pad_token: str | None = None,
    chat_template: str | None = None,
    tokenizer_class: type[PreTrainedTokenizerFast] = Qwen2Tokenizer,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``corpus`` and wrap it as ``tokenizer_class``.

    ``special_tokens`` take the first ids, in the order given, and are never split or produced by merges;
    all of them are registered as special, so decoding with ``skip_special_tokens=True`` drops them.
    ``eos_token`` defaults to the third special token if there is one (Qwen's ``<|im_end|>``), else the
    first; ``pad_token`` defaults to the first. ``vocab_size`` is an upper bound: a small corpus runs out
    of merges sooner.
    """
    corpus = [text for text in corpus if text]
    if not corpus:
        raise ValueError("train_tokenizer: the corpus is empty")
    special_tokens = list(dict.fromkeys(special_tokens))
    if not special_tokens:
        raise ValueError("train_tokenizer: at least one special token (the padding/end-of-text token) is needed")
    minimum = 256 + len(special_tokens)
    if vocab_size < minimum:
        raise ValueError(
            f"train_tokenizer: vocab_size {vocab_size} is below the byte alphabet plus specials ({minimum})"
        )
    vocab, merges = _train_bpe(corpus, vocab_size, special_tokens)
    pad_token = pad_token or special_tokens[0]
    eos_token = eos_token or special_tokens[min(2, len(special_tokens) - 1)]
    tokenizer = tokenizer_class(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token=eos_token,
        pad_token=pad_token,
        extra_special_tokens=[t for t in special_tokens if t not in (eos_token, pad_token)],
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer
