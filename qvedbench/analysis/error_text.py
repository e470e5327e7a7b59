"""Finding form errors and named frames or times in feedback text.

Detection rules (applied the same way to predictions and to reference texts):

- Normalisation: lower case, Unicode NFKC, ``n't`` and ``cannot`` become ``not``, hyphens inside words become
  spaces (``push-ups`` -> ``push ups``), every word is reduced to its Porter stem (nltk), so ``knees caving``
  matches the phrase ``knee cave``.
- Sentences end at ``; . ! ? :`` and at a spaced dash (``" - "``); a phrase never matches across sentences.
- A phrase matches when its words appear in order within one sentence with at most ``max_gap`` other tokens
  between consecutive words (``watch your knees, they cave in`` matches ``knees cave in``).
- A match is negated, and does not count, when a negation cue (no, not, never, without, nor, none, neither)
  lies in the same clause (clauses end at commas and at but/however/although/though/while/whereas/yet) within
  ``negation_window`` tokens before the match or inside it. Cue words that are part of the phrase itself do not
  negate it, so a phrase may contain one (``not deep enough`` for an incomplete range of motion).
- Texts that only describe good form (``knees stay out``, ``good alignment``) match nothing, because no phrase
  describes good form. Corrections that name the error (``stop your knees caving in``) do count: feedback gives
  such corrections when it sees the error.
- The score of an error in a text is the number of distinct phrases of that error that match (affirmed); the
  error is detected when the score is at least 1.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from nltk.stem import PorterStemmer

# Phrases follow the synthetic feedback wordings (qvedbench.synth.feedback and .exercises) and common clinical
# phrasing; matching is on stems, so inflections need not be listed.
DEFAULT_TAXONOMY: dict[str, tuple[str, ...]] = {
    "knee_valgus": (
        "knee valgus", "valgus", "knees caving in", "knees cave inward", "knees drift inward", "knees collapse",
        "knees fall in", "knees buckle inward", "knees track inward", "knees moving inward", "knock knees",
        "knees come together",
    ),
    "forward_lean": (
        "forward lean", "leaning forward", "torso tips forward", "tips forward", "forward tilt", "tilts forward",
        "trunk lean", "trunk flexion", "chest drops", "chest falls forward", "bending forward too much",
        "torso leans forward",
    ),
    "incomplete_rom": (
        "incomplete range of motion", "limited range of motion", "reduced range of motion", "partial", "half reps",
        "too shallow", "not deep enough", "not low enough", "not far enough", "not high enough", "too low",
        "not fully", "not all the way", "stops short", "cut short", "stops halfway", "too small",
        "insufficient depth", "lack of depth",
    ),
    "poor_alignment": (
        "poor alignment", "misaligned", "misalignment", "out of line", "hips shift", "hips drift sideways",
        "hips sag", "sagging hips", "lower back dips", "back dips", "back drops", "unevenly", "uneven",
        "arm lags", "arm trails", "out of sync", "back leg drops", "free leg stays low", "asymmetry",
        "asymmetric", "weight shifts to one side", "pelvic drop",
    ),
}

_stem = functools.lru_cache(maxsize=None)(PorterStemmer().stem)
NEGATION_CUES = frozenset(_stem(w) for w in ("no", "not", "never", "without", "nor", "none", "neither"))
CLAUSE_BREAKS = frozenset([","] + [_stem(w) for w in ("but", "however", "although", "though", "while", "whereas", "yet")])
_SENTENCE_BREAKS = frozenset({";", ".", "!", "?", ":"})
_TOKEN = re.compile(r"[a-z0-9]+|[,;.!?:]")


def tokenise(text: str) -> list[list[str]]:
    """Sentences of stemmed tokens (words, and commas kept as clause breaks) of ``text``."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    text = re.sub(r"n't\b", " not", text).replace("cannot", "can not")
    text = re.sub(r"\s[-\u2013\u2014]+\s", " ; ", text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)
    sentences: list[list[str]] = [[]]
    for token in _TOKEN.findall(text):
        if token in _SENTENCE_BREAKS:
            sentences.append([])
        else:
            sentences[-1].append(token if token == "," else _stem(token))
    return [s for s in sentences if s]


def _find_spans(tokens: Sequence[str], phrase: Sequence[str], max_gap: int) -> list[tuple[int, ...]]:
    """Every start's first matching position tuple of ``phrase`` in ``tokens`` (gaps of at most ``max_gap``)."""

    def extend(positions: tuple[int, ...]) -> tuple[int, ...] | None:
        if len(positions) == len(phrase):
            return positions
        last = positions[-1]
        for pos in range(last + 1, min(len(tokens), last + 2 + max_gap)):
            if tokens[pos] == phrase[len(positions)]:
                found = extend(positions + (pos,))
                if found:
                    return found
        return None

    spans = []
    for start, token in enumerate(tokens):
        if token == phrase[0]:
            found = extend((start,))
            if found:
                spans.append(found)
    return spans


@dataclass(frozen=True)
class Detection:
    """The errors found in one text: affirmed and negated phrase matches per error id."""

    matched: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    negated: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        return [e for e, phrases in self.matched.items() if phrases]

    def score(self, error: str) -> int:
        return len(self.matched.get(error, ()))


class ErrorDetector:
    """Phrase matching of an error taxonomy (error id -> phrases and synonyms) with negation handling."""

    def __init__(self, taxonomy: Mapping[str, Sequence[str]] | None = None, *, max_gap: int = 2,
                 negation_window: int = 4):
        taxonomy = DEFAULT_TAXONOMY if not taxonomy else taxonomy
        self.max_gap, self.negation_window = max_gap, negation_window
        self.phrases: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for error, phrases in taxonomy.items():
            if isinstance(phrases, str) or not phrases:
                raise ValueError(f"taxonomy error '{error}': give a non-empty list of phrases")
            compiled = []
            for phrase in phrases:
                sentences = tokenise(str(phrase))
                if len(sentences) != 1 or "," in sentences[0]:
                    raise ValueError(f"taxonomy error '{error}': phrase {phrase!r} must be one clause of words")
                compiled.append((str(phrase), tuple(sentences[0])))
            self.phrases[error] = compiled

    @property
    def error_ids(self) -> list[str]:
        return list(self.phrases)

    def _negated(self, tokens: Sequence[str], span: tuple[int, ...]) -> bool:
        clause_start = 0
        for pos in range(span[0] - 1, -1, -1):
            if tokens[pos] in CLAUSE_BREAKS:
                clause_start = pos + 1
                break
        first = max(clause_start, span[0] - self.negation_window)
        own = set(span)
        return any(tokens[pos] in NEGATION_CUES for pos in range(first, span[-1] + 1) if pos not in own)

    def detect(self, text: str) -> Detection:
        matched: dict[str, tuple[str, ...]] = {}
        negated: dict[str, tuple[str, ...]] = {}
        sentences = tokenise(text)
        for error, phrases in self.phrases.items():
            yes, no = [], []
            for phrase, stems in phrases:
                spans = [(s, span) for s in sentences for span in _find_spans(s, stems, self.max_gap)]
                if any(not self._negated(s, span) for s, span in spans):
                    yes.append(phrase)
                elif spans:
                    no.append(phrase)
            matched[error], negated[error] = tuple(yes), tuple(no)
        return Detection(matched, negated)


# -- frames and times named in a text ------------------------------------------------------------------------

_NUMBER = r"(\d+(?:\.\d+)?)"
_RANGE_SEP = r"\s*(?:-|\u2013|to|and|through|until)\s*"
_FRAMES = re.compile(rf"\bframes?\s*#?\s*(\d+)(?:{_RANGE_SEP}(\d+))?", re.IGNORECASE)
_SECONDS = re.compile(rf"(?:{_NUMBER}{_RANGE_SEP})?{_NUMBER}\s*(?:s|sec|secs|seconds?)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def time_mentions(text: str, fps: float | None) -> list[tuple[float, float]]:
    """Frame ranges ``(start, end)`` named in ``text``: "frame 12", "frames 10-20", "at 2 s", "around 2.5
    seconds", "between 1 and 2 seconds", "0:02". Times become frames at ``fps``; without ``fps`` they are
    skipped (only frame numbers count)."""
    found: list[tuple[float, float]] = []
    for m in _FRAMES.finditer(text):
        start = float(m.group(1))
        end = float(m.group(2)) if m.group(2) else start
        found.append((min(start, end), max(start, end)))
    if fps:
        for m in _SECONDS.finditer(text):
            end = float(m.group(2))
            start = float(m.group(1)) if m.group(1) else end
            found.append((min(start, end) * fps, max(start, end) * fps))
        for m in _CLOCK.finditer(text):
            seconds = int(m.group(1)) * 60 + int(m.group(2))
            found.append((seconds * fps, seconds * fps))
    return found


def overlaps(mentions: Sequence[Sequence[float]], ranges: Sequence[Sequence[float]], tolerance: float = 0.0) -> bool:
    """Whether any mentioned range meets any annotated inclusive range widened by ``tolerance`` frames."""
    return any(m0 <= r1 + tolerance and m1 >= r0 - tolerance for m0, m1 in mentions for r0, r1 in ranges)
