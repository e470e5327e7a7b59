"""Expert-style feedback text written from a clip's labels, with wording varied by a seeded RNG."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .exercises import EXERCISES

GOOD_FORM: tuple[str, ...] = (
    "good form; keep it up",
    "form looks solid - controlled reps through the full range",
    "no major issues; nice steady tempo and good alignment",
    "well done - smooth, controlled movement with good posture",
)

# Wording for the errors that read the same in every exercise; the others come from the exercise itself.
GENERIC_FEEDBACK: dict[str, tuple[str, ...]] = {
    "knee_valgus": (
        "knees caving in; push them out over your toes",
        "your knees drift inward at the bottom - keep them tracking over your toes",
        "knees collapse inward; drive them out in line with your feet",
        "watch your knees, they cave in - press them outward as you move",
    ),
    "forward_lean": (
        "leaning too far forward; keep your chest up",
        "torso tips forward too much - brace your core and stay more upright",
        "excessive forward lean; lift your chest and keep your back tall",
    ),
}


def feedback_options(class_name: str, error: str) -> tuple[str, ...]:
    """All wordings available for ``error`` in ``class_name``."""
    exercise = EXERCISES[class_name]
    if error not in exercise.errors:
        raise ValueError(f"error {error!r} does not apply to {class_name!r} (applicable: {exercise.errors})")
    if error == "incomplete_rom":
        return exercise.rom_feedback
    if error == "poor_alignment":
        return exercise.alignment_feedback
    return GENERIC_FEEDBACK[error]


def compose_feedback(class_name: str, errors: Sequence[str], rng: np.random.Generator) -> str:
    """Feedback for a clip of ``class_name`` showing ``errors`` (in order; none = good form)."""
    if not errors:
        return str(rng.choice(GOOD_FORM))
    parts = [str(rng.choice(feedback_options(class_name, e))) for e in errors]
    return parts[0] + "".join(f". also, {part}" for part in parts[1:])
