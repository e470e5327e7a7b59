"""Answer quality metrics and the scoring of predictions files.

Importing this package does not import torch: the model-based metrics load it on first use.
"""
from qvedbench.metrics.embedding import bertscore_f1, embedding_cosine, resolve_device
from qvedbench.metrics.exercise import exercise_outcome, majority_class, per_class_accuracy
from qvedbench.metrics.score import ALL_METRICS, aggregate_scores, load_predictions, score_predictions
from qvedbench.metrics.text import meteor, rouge_l, tokenize

__all__ = [
    "ALL_METRICS", "aggregate_scores", "bertscore_f1", "embedding_cosine", "exercise_outcome", "load_predictions",
    "majority_class", "meteor", "per_class_accuracy", "resolve_device", "rouge_l", "score_predictions", "tokenize",
]
