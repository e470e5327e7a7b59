"""Exercise class names: normalisation, and finding the class a reference or a model answer names.

Answers follow ``"<label> - <feedback>"``, where the label names an exercise class ("single-leg deadlift
(left) - keep your hips level"). Class names may themselves contain hyphens and spaces, so the label ends at
the first ``" - "`` (a dash with whitespace on both sides) that follows a class name, never at the first
hyphen. This module has no dependencies beyond the standard library: metrics use it to parse predictions.
"""
from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Sequence

# A dash with whitespace on both sides; models also write en and em dashes.
_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]{1,2}\s+")
_SEPARATOR_CHARS = re.compile(r"[\s_\-\u2010\u2011\u2012\u2013\u2014]+")
_EDGE_PUNCTUATION = string.punctuation + string.whitespace + "\u2013\u2014\u201c\u201d\u2018\u2019"
# Letters and digits only: underscores and hyphens count as word boundaries ("squat_0007" names "squat").
_NOT_AFTER_WORD = r"(?<![^\W_])"
_NOT_BEFORE_WORD = r"(?![^\W_])"


def normalise(name: str) -> str:
    """Case-fold, turn hyphens, underscores and runs of whitespace into one space, strip edge punctuation.

    ``normalise("Push-Ups") == normalise("push_ups") == normalise(" push  ups. ") == "push ups"``.
    Plurals are kept; :func:`class_key` also folds them.
    """
    text = _SEPARATOR_CHARS.sub(" ", name.casefold())
    return text.strip(_EDGE_PUNCTUATION)


def _singular(word: str) -> str:
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) >= 3:
        return word[:-1]
    return word


def class_key(name: str) -> str:
    """A comparison key: :func:`normalise`, last word made singular, spaces dropped.

    "squats", "Squat", "push-ups", "pushups" and "Push_Up" reduce to "squat", "pushup"...: two names
    denote the same class exactly when their keys are equal.
    """
    words = normalise(name).split()
    if not words:
        return ""
    words[-1] = _singular(words[-1])
    return "".join(words)


def same_class(a: str, b: str) -> bool:
    """True when two spellings denote the same class ("Push-Ups" and "push_up")."""
    return class_key(a) == class_key(b)


def find_class(name: str, classes: Sequence[str]) -> str | None:
    """The configured class a bare name (a folder slug, a label) spells, or None."""
    key = class_key(name)
    for cls in classes:
        if class_key(cls) == key:
            return cls
    return None


def check_classes(classes: Sequence[str]) -> list[str]:
    """Validate a configured class list: non-empty names, no two spelling the same class."""
    if not classes:
        raise ValueError("the class list is empty")
    seen: dict[str, str] = {}
    for cls in classes:
        if not isinstance(cls, str) or not class_key(cls):
            raise ValueError(f"class names must be non-empty strings, got {cls!r}")
        key = class_key(cls)
        if key in seen:
            raise ValueError(f"classes {seen[key]!r} and {cls!r} denote the same class")
        seen[key] = cls
    return list(classes)


@lru_cache(maxsize=1024)
def _class_pattern(cls: str) -> re.Pattern:
    words = normalise(cls).split()
    parts = [re.escape(w) for w in words[:-1]]
    parts.append(re.escape(_singular(words[-1])) + r"(?:e?s)?")
    # Separators between words are optional so "pushups" and "push-ups" both name "push ups".
    body = r"[\s_\-\u2010\u2011]*".join(parts)
    return re.compile(_NOT_AFTER_WORD + body + _NOT_BEFORE_WORD, re.IGNORECASE)


def _mentions(text: str, classes: Sequence[str]) -> list[tuple[int, int, str]]:
    """Every whole-word mention of every class: ``(start, end, class)``."""
    found = []
    for cls in classes:
        if not class_key(cls):
            continue
        for m in _class_pattern(cls).finditer(text):
            found.append((m.start(), m.end(), cls))
    return found


def _label_cut(text: str, mentions: list[tuple[int, int, str]]) -> re.Match | None:
    """The first separator preceded by a class mention."""
    for sep in _SEPARATOR.finditer(text):
        if any(end <= sep.start() for _, end, _ in mentions):
            return sep
    return None


def parse_exercise(text: str | None, classes: Sequence[str]) -> str | None:
    """The configured class named by an answer or a reference, or None.

    First the label part (the text before the first ``" - "`` that follows a class name): of the classes it
    names, the longest match wins, so "single-leg deadlift - ..." is "single-leg deadlift" even when
    "deadlift" is configured too. Without such a label part, the earliest class mentioned anywhere in the
    text (whole words; the longer one when two start at the same place).
    """
    if not text:
        return None
    mentions = _mentions(text, classes)
    if not mentions:
        return None
    cut = _label_cut(text, mentions)
    if cut is not None:
        in_label = [m for m in mentions if m[1] <= cut.start()]
        return max(in_label, key=lambda m: (m[1] - m[0], -m[0]))[2]
    return min(mentions, key=lambda m: (m[0], -(m[1] - m[0])))[2]


def split_answer(text: str, classes: Sequence[str]) -> tuple[str, str]:
    """``(label, feedback)``: the text before and after the first ``" - "`` that follows a class name.

    Without such a separator the label is ``""`` and the whole (stripped) text is the feedback.
    """
    cut = _label_cut(text, _mentions(text, classes))
    if cut is None:
        return "", text.strip()
    return text[: cut.start()].strip(), text[cut.end():].strip()


def leading_part(text: str) -> str | None:
    """The text before the first ``" - "`` separator regardless of classes, or None without one."""
    sep = _SEPARATOR.search(text)
    return text[: sep.start()].strip() if sep else None
