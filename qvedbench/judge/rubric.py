"""The rubric scorer: a deterministic SANITY BASELINE, not an LLM judge.

It grades a prediction from the sample's annotated error labels and its reference with fixed rules, so the
offline demo and the tests exercise the whole judge pipeline without a model. Its numbers say how well the
prediction names the right exercise and the annotated errors; they are not a clinical judgement, and every
output built from them is labelled "rubric (sanity baseline)".

Components, each in [0, 1]:

- ``exercise``: the prediction names the sample's exercise (:func:`qvedbench.labels.parse_exercise`);
- ``recall``: share of the annotated errors whose pattern the prediction matches (for a sample annotated
  with no error: 1 if the prediction names no error, else 0); without annotations, the share of the
  reference's content words found in the prediction;
- ``precision``: share of the errors the prediction names that are annotated (1 when it names none and none
  are annotated; 0 when it names none but some are annotated); without annotations equal to ``recall``;
- ``coverage``: share of the reference's content words found in the prediction;
- ``action``: the prediction contains a corrective instruction (a cue word such as "keep", "push", "lift").

Scores (1-5, whole numbers: ``1 + round(4 * x)``): clinical_accuracy from mean(exercise, precision),
actionability from action, root_cause from recall, completeness from coverage, holistic from
mean(exercise, recall, precision, coverage); overall is the mean of the four dimensions.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from qvedbench.judge.base import JudgeBackend, JudgeResult
from qvedbench.judge.prompt import DIMENSIONS
from qvedbench.labels import parse_exercise

# Patterns (case-insensitive) that mean a text names an error; keys are the dataset's error ids.
DEFAULT_ERROR_PATTERNS: dict[str, str] = {
    "knee_valgus": r"\bknees?\b[^.;]*\b(cav\w*|collaps\w*|inward|valgus)",
    "forward_lean": r"\b(lean\w*|tip\w*|tilt\w*)\b[^.;]*\bforward|\bforward (lean|tilt)|\bchest up\b|\bupright\b",
    "incomplete_rom": r"\b(shallow|stops? short|cutting [^.;]* short|deep enough|far enough|low enough|high enough"
                      r"|half\w*|partial|all the way|fully|too small|too low)\b",
    "poor_alignment": r"\b(sag\w*|uneven\w*|shifts?|sideways|lags?|out of sync|straight line|one line|dips?"
                      r"|drops?|symmetric\w*|together|trails?)\b",
}
ACTION_CUES = (
    "keep", "push", "drive", "lift", "lower", "brace", "bend", "bring", "press", "raise", "squeeze", "extend",
    "reach", "stay", "tighten", "finish", "go down", "sit down", "lock out", "move", "jump", "hinge", "watch",
)
STOPWORDS = frozenset(
    "a an and the of to in on at your you it is are be as for with from up down so keep each while both your "
    "too not no until this that its into than more".split()
)
_WORD = re.compile(r"[a-z]+")


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2}


def _grade(x: float) -> int:
    return 1 + int(round(4 * x))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


class RubricJudge(JudgeBackend):
    """Deterministic rubric scores from annotated error labels (a sanity baseline; see the module docstring)."""

    name = "rubric"
    sanity_baseline = True

    def __init__(self, classes: Sequence[str], error_patterns: Mapping[str, str] | None = None):
        self.classes = list(classes)
        patterns = DEFAULT_ERROR_PATTERNS if error_patterns is None else error_patterns
        self.patterns = {}
        for error, pattern in patterns.items():
            try:
                self.patterns[error] = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"rubric error pattern for '{error}' is not a valid regular expression: {exc}") from exc
        self.model = "rubric"

    def named_errors(self, text: str) -> set[str]:
        """The error ids whose pattern matches ``text``."""
        return {error for error, pattern in self.patterns.items() if pattern.search(text)}

    def components(self, sample: dict) -> dict[str, float]:
        prediction, reference = sample["prediction"], sample["reference"]
        exercise = float(parse_exercise(prediction, self.classes) == sample.get("exercise"))
        reference_words = _content_words(reference)
        coverage = (len(reference_words & _content_words(prediction)) / len(reference_words)
                    if reference_words else 1.0)
        annotated = sample.get("errors")
        if annotated is None:
            recall = precision = coverage
        else:
            annotated, named = set(annotated), self.named_errors(prediction)
            if annotated:
                recall = len(annotated & named) / len(annotated)
                precision = len(annotated & named) / len(named) if named else 0.0
            else:
                recall = precision = float(not named)
        lowered = prediction.lower()
        action = float(any(re.search(rf"\b{re.escape(cue)}\b", lowered) for cue in ACTION_CUES))
        return {"exercise": exercise, "recall": recall, "precision": precision, "coverage": coverage,
                "action": action}

    def judge(self, sample: dict) -> JudgeResult:
        if not sample.get("prediction"):
            return JudgeResult(sample["id"], None, None, error="no prediction to judge", attempts=0)
        c = self.components(sample)
        scores = {
            "clinical_accuracy": _grade(_mean([c["exercise"], c["precision"]])),
            "actionability": _grade(c["action"]),
            "root_cause": _grade(c["recall"]),
            "completeness": _grade(c["coverage"]),
        }
        scores["overall"] = _mean([scores[d] for d in DIMENSIONS])
        scores["holistic"] = _grade(_mean([c["exercise"], c["recall"], c["precision"], c["coverage"]]))
        rationale = ", ".join(f"{k}={v:.2f}" for k, v in c.items())
        return JudgeResult(sample["id"], scores, None, parse_mode="rubric", rationale=rationale, latency_s=0.0,
                           attempts=0)
