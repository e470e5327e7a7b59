"""Strict parsing of a judge's reply, with one documented fallback; nothing is ever imputed.

Rules, in order:

1. **Strict**: the whole reply, surrounding whitespace removed, is one JSON object (``parse_mode="strict"``).
2. **Fallback**: otherwise the first ``{`` in the reply from which a complete JSON object decodes (prose or a
   markdown code fence around it is ignored; ``parse_mode="extracted"``). No other repair is attempted: no
   regular-expression scraping of numbers, no fixing of quotes or trailing commas.
3. The object must hold every key of :data:`~qvedbench.judge.prompt.SCORE_KEYS` (exact names) with a number
   in 1-5; the dimensions and ``holistic`` must be whole numbers (``4`` or ``4.0``), ``overall`` may be
   fractional. Booleans and numeric strings are rejected. Other keys are ignored, except a string
   ``rationale``, which is kept.

Anything else raises :class:`JudgeParseError` with the reason; the caller records the sample as a failure
together with the raw reply.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from qvedbench.judge.prompt import SCORE_KEYS, SCORE_RANGE

FRACTIONAL_KEYS = frozenset({"overall"})


class JudgeParseError(ValueError):
    """A judge reply that does not hold a valid score object."""


@dataclass(frozen=True)
class ParsedReply:
    scores: dict[str, float]
    parse_mode: str  # "strict" | "extracted"
    rationale: str | None = None


def _first_json_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start >= 0:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    return None


def _check_score(key: str, value) -> float:
    low, high = SCORE_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JudgeParseError(f"'{key}' must be a number from {low} to {high}, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise JudgeParseError(f"'{key}' = {value!r} is outside {low}-{high}")
    if key not in FRACTIONAL_KEYS and value != int(value):
        raise JudgeParseError(f"'{key}' must be a whole number from {low} to {high}, got {value!r}")
    return float(value) if key in FRACTIONAL_KEYS else int(value)


def parse_judge_reply(text: str | None) -> ParsedReply:
    """Parse one reply by the rules in this module's docstring; :class:`JudgeParseError` if it fails them."""
    if text is None or not text.strip():
        raise JudgeParseError("empty reply")
    try:
        obj = json.loads(text.strip())
        mode = "strict"
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        obj = _first_json_object(text)
        mode = "extracted"
    if obj is None:
        raise JudgeParseError("no JSON object in the reply")
    missing = [key for key in SCORE_KEYS if key not in obj]
    if missing:
        raise JudgeParseError(f"missing keys: {', '.join(missing)}")
    scores = {key: _check_score(key, obj[key]) for key in SCORE_KEYS}
    rationale = obj.get("rationale")
    return ParsedReply(scores=scores, parse_mode=mode, rationale=rationale if isinstance(rationale, str) else None)
