"""Exercise identification: did the answer name the exercise shown?

The class is read from the answer with :func:`qvedbench.labels.parse_exercise`. An answer naming no known
class is wrong (and counted as unparsed); a missing answer (``None``) cannot be scored and is a failure.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from qvedbench.labels import parse_exercise
from qvedbench.stats import wilson_ci


def exercise_outcome(prediction: str | None, exercise: str, classes: Sequence[str]) -> tuple[str | None, int | None]:
    """Return ``(predicted_class, correct)``; ``correct`` is 0/1, or ``None`` when there is no prediction."""
    if prediction is None:
        return None, None
    predicted = parse_exercise(prediction, list(classes))
    return predicted, int(predicted == exercise)


def per_class_accuracy(exercises: Sequence[str], correct: Sequence[int | None], *, ci: float = 0.95) -> dict:
    """Accuracy per true class with a Wilson interval (sound for the small per-class counts).

    ``n`` counts the scored samples of the class; samples without a prediction are counted in ``failures``.
    """
    out = {}
    for cls in sorted(set(exercises)):
        outcomes = [c for e, c in zip(exercises, correct) if e == cls]
        scored = [c for c in outcomes if c is not None]
        low, high = wilson_ci(sum(scored), len(scored), ci)
        out[cls] = {
            "n": len(scored),
            "accuracy": sum(scored) / len(scored) if scored else None,
            "ci_low": low,
            "ci_high": high,
            "failures": len(outcomes) - len(scored),
        }
    return out


def majority_class(exercises: Sequence[str]) -> tuple[str | None, float | None]:
    """The most frequent class (ties broken alphabetically) and its share: the always-say-it accuracy."""
    if not exercises:
        return None, None
    counts = Counter(exercises)
    cls = min(counts, key=lambda c: (-counts[c], c))
    return cls, counts[cls] / len(exercises)


def follows_original(
    predicted: Sequence[str | None], original: Sequence[str], answered: Sequence[bool]
) -> list[int | None]:
    """Per sample 1 if the answer names the record's original class (swapped-video control), None if unanswered."""
    return [int(p == o) if a else None for p, o, a in zip(predicted, original, answered)]
