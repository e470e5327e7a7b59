"""Class-weighted training loss (setting ``loss_weighting: class``).

Weights. A training clip of exercise class ``c`` gets ``w_c = N / (C * n_c)``: ``N`` clips in the run's training
records, ``C`` classes among them, ``n_c`` clips of class ``c``. The weights are inversely proportional to the
class frequency and their mean over the training clips is exactly 1 (``sum_c n_c * N / (C * n_c) = N``), so the
loss keeps the scale of the unweighted one. With equally frequent classes every weight is 1.

Loss. Token-level cross-entropy of the answer tokens (labels are -100 on prompt and padding; the usual causal
shift: logits at position t predict the label at t + 1), each token multiplied by its clip's weight, **summed**
and divided by the number of answer tokens: the count over the whole accumulated batch that the Trainer passes
as ``num_items_in_batch`` during training, else the batch's own count. With all weights 1 this is exactly the
model's built-in causal-LM loss, so a longer answer counts in proportion to its tokens in both settings.

The weight travels in the batch under :data:`WEIGHT_KEY` (added by the collator, see
:mod:`qvedbench.train.data`) and :class:`WeightedLossTrainer` removes it before the model's forward. A batch
without it (validation) is scored with weight 1, so validation losses stay comparable across runs.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import torch
from transformers import Trainer

from qvedbench.io import RecordError

WEIGHT_KEY = "sample_weight"
CLASS_FIELD = "exercise"
IGNORE_INDEX = -100


def class_counts(records: Sequence[dict], source: str = "train records") -> dict[str, int]:
    """Clips per exercise class (``exercise`` field), in order of first appearance."""
    counts: Counter = Counter()
    for index, record in enumerate(records):
        value = record.get(CLASS_FIELD)
        if not isinstance(value, str) or not value:
            raise RecordError(source, index, CLASS_FIELD, f"needed for class-weighted loss, got {value!r}")
        counts[value] += 1
    return dict(counts)


def class_weights(records: Sequence[dict], source: str = "train records") -> dict[str, float]:
    """``{class: N / (C * n_c)}`` over ``records`` (see the module docstring); the mean per clip is 1."""
    counts = class_counts(records, source)
    if not counts:
        raise ValueError(f"{source}: no records to weight")
    total, n_classes = sum(counts.values()), len(counts)
    return {name: total / (n_classes * n) for name, n in counts.items()}


def sample_weights(records: Sequence[dict], mode: str, source: str = "train records") -> list[float] | None:
    """One weight per record for ``loss_weighting`` ``mode``: None for ``"none"`` (the model's own loss)."""
    if mode == "none":
        return None
    if mode != "class":
        raise ValueError(f"unknown loss_weighting {mode!r}; expected none or class")
    weights = class_weights(records, source)
    return [weights[record[CLASS_FIELD]] for record in records]


def weighted_token_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None,
                        num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
    """Sum over answer tokens of ``weight(sample) * cross-entropy``, divided by the answer-token count.

    ``logits`` ``(B, T, V)``, ``labels`` ``(B, T)`` with -100 where there is no target, ``weights`` ``(B,)``
    (None: all 1). The count is ``num_items_in_batch`` when given (the Trainer's count over the accumulated
    batch), else the number of answer tokens after the shift.
    """
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"weighted loss: logits cover {tuple(logits.shape[:2])} positions but labels "
                         f"{tuple(labels.shape)}; the model must return one logit row per input token")
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:].to(shift_logits.device)
    per_token = torch.nn.functional.cross_entropy(shift_logits.transpose(1, 2), shift_labels,
                                                  ignore_index=IGNORE_INDEX, reduction="none")  # (B, T-1)
    if weights is not None:
        weights = weights.to(per_token.device, per_token.dtype)
        if weights.shape != (labels.shape[0],):
            raise ValueError(f"weighted loss: {tuple(weights.shape)} weights for a batch of {labels.shape[0]}")
        per_token = per_token * weights[:, None]
    count = num_items_in_batch if num_items_in_batch is not None else (shift_labels != IGNORE_INDEX).sum()
    if torch.is_tensor(count):
        count = count.to(per_token.device)
    return per_token.sum() / count


class WeightedLossTrainer(Trainer):
    """transformers' Trainer whose loss is :func:`weighted_token_loss` with the batch's :data:`WEIGHT_KEY`.

    It goes through ``compute_loss_func``, so gradient accumulation and multi-device scaling stay the
    Trainer's own; the weights are taken out of the inputs before the model sees them.
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get("compute_loss_func") is not None:
            raise ValueError("WeightedLossTrainer computes its own loss; do not pass compute_loss_func")
        kwargs["compute_loss_func"] = self._batch_loss
        super().__init__(*args, **kwargs)
        self._weights: torch.Tensor | None = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        self._weights = inputs.pop(WEIGHT_KEY, None)
        try:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        finally:
            self._weights = None

    def _batch_loss(self, outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        return weighted_token_loss(logits, labels, self._weights, num_items_in_batch)
