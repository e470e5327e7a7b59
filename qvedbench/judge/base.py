"""The judge interface: :meth:`JudgeBackend.judge` turns one sample into one :class:`JudgeResult`.

A sample is one prediction row (``id``, ``exercise``, ``reference``, ``prediction``, and ``errors`` when
annotated). A result either holds every score of :data:`~qvedbench.judge.prompt.SCORE_KEYS` or none of them
(a failure, with the reason and the raw reply): scores are never imputed.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from qvedbench.judge.parse import JudgeParseError, parse_judge_reply
from qvedbench.judge.prompt import PROMPT_VERSION, SCORE_KEYS, build_messages


class JudgeConfigError(RuntimeError):
    """The judge cannot work at all as configured (bad credentials, unknown model, missing package)."""


class JudgeUnavailableError(RuntimeError):
    """The judge stayed unreachable after every retry; the job stops and a rerun resumes where it stopped."""


class ReplyRejected(Exception):
    """The judge refused this one request (e.g. HTTP 400): the sample is recorded as a failure."""


@dataclass
class JudgeResult:
    id: str
    scores: dict[str, float] | None  # every SCORE_KEYS entry, or None for a failure
    raw: str | None  # the judge's reply as received (None when there was none)
    error: str | None = None  # why the sample failed
    parse_mode: str | None = None  # "strict" | "extracted" | "rubric"
    rationale: str | None = None
    latency_s: float | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.scores is not None

    def to_row(self, describe: dict, context: dict | None = None) -> dict:
        """The per-sample JSONL row: context (model, run, variant, exercise), scores (null on failure), status."""
        scores = self.scores or {}
        return {
            "id": self.id,
            **(context or {}),
            "status": "ok" if self.ok else "failed",
            **{key: scores.get(key) for key in SCORE_KEYS},
            "error": self.error,
            "parse_mode": self.parse_mode,
            "rationale": self.rationale,
            "raw": self.raw,
            "latency_s": self.latency_s,
            "attempts": self.attempts,
            **describe,
        }


class JudgeBackend(ABC):
    """One way of grading feedback. Subclasses set :attr:`name` and implement :meth:`judge`."""

    name: ClassVar[str] = ""
    sanity_baseline: ClassVar[bool] = False  # True only for the rubric scorer, which is not an LLM judge
    model: str = ""

    @abstractmethod
    def judge(self, sample: dict) -> JudgeResult:
        """Grade one sample; a reply that cannot be parsed gives a failed result, not an exception."""

    def describe(self) -> dict:
        """What produced a score: recorded on every row so results from different judges never mix."""
        return {
            "backend": self.name,
            "judge_model": self.model,
            "sanity_baseline": self.sanity_baseline,
            "prompt_version": PROMPT_VERSION,
        }

    def close(self) -> None:
        """Release connections or memory (optional)."""


class ChatJudgeBackend(JudgeBackend):
    """An LLM judge: sends :func:`~qvedbench.judge.prompt.build_messages` and parses the reply."""

    last_attempts: int = 1

    @abstractmethod
    def complete(self, messages: list[dict[str, str]]) -> str:
        """The judge's text reply (greedy / temperature 0). Raise :class:`ReplyRejected` for a refused request."""

    def judge(self, sample: dict) -> JudgeResult:
        if not sample.get("prediction"):
            return JudgeResult(sample["id"], None, None, error="no prediction to judge", attempts=0)
        start = time.perf_counter()
        self.last_attempts = 1
        try:
            raw = self.complete(build_messages(sample))
        except ReplyRejected as exc:
            return JudgeResult(sample["id"], None, None, error=f"request rejected: {exc}",
                               latency_s=time.perf_counter() - start, attempts=self.last_attempts)
        latency = time.perf_counter() - start
        try:
            parsed = parse_judge_reply(raw)
        except JudgeParseError as exc:
            return JudgeResult(sample["id"], None, raw, error=f"unparseable reply: {exc}", latency_s=latency,
                               attempts=self.last_attempts)
        return JudgeResult(sample["id"], parsed.scores, raw, parse_mode=parsed.parse_mode,
                           rationale=parsed.rationale, latency_s=latency, attempts=self.last_attempts)
