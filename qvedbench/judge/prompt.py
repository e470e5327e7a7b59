"""The judge prompt, versioned: what an LLM judge is asked and which JSON keys its reply must hold.

Change the wording only together with :data:`PROMPT_VERSION`: every judged row records the version, so scores
from different prompts are never mixed silently.
"""
from __future__ import annotations

PROMPT_VERSION = "qved-judge-v1"

# The four rubric dimensions, each an integer 1-5.
DIMENSIONS: tuple[str, ...] = ("clinical_accuracy", "actionability", "root_cause", "completeness")
# Every score a reply must carry: the dimensions, the judge's overall grade, and the original QVED holistic score.
SCORE_KEYS: tuple[str, ...] = (*DIMENSIONS, "overall", "holistic")
SCORE_RANGE = (1, 5)

SYSTEM_PROMPT = (
    "You are an experienced physiotherapist who grades automatically generated feedback on exercise form. "
    "You compare the model's feedback with the expert's feedback for the same video clip and answer with one "
    "JSON object only."
)

USER_TEMPLATE = """Exercise: {exercise}

Expert feedback (ground truth):
{reference}

Model feedback to grade:
{prediction}

Grade the model feedback against the expert feedback on each criterion, from 1 (very poor) to 5 (excellent):
- clinical_accuracy: are the exercise and the form errors it names correct (no invented errors)?
- actionability: does it give concrete corrections the patient can act on?
- root_cause: does it identify the underlying cause of the faulty movement?
- completeness: does it cover every issue the expert mentions?
- overall: your overall grade of the feedback.
- holistic: how well the model feedback matches the expert feedback overall (1 = unrelated, 5 = equivalent).

Answer with exactly one JSON object and nothing else, using integers from 1 to 5:
{{"clinical_accuracy": <1-5>, "actionability": <1-5>, "root_cause": <1-5>, "completeness": <1-5>, "overall": <1-5>, "holistic": <1-5>, "rationale": "<one sentence>"}}"""


def build_messages(sample: dict) -> list[dict[str, str]]:
    """Chat messages (system, user) asking a judge to grade ``sample['prediction']`` against its reference."""
    user = USER_TEMPLATE.format(
        exercise=sample.get("exercise") or "unknown",
        reference=sample["reference"],
        prediction=sample["prediction"],
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
