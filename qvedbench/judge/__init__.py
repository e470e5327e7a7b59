"""LLM-as-judge grading of generated feedback (RQ5.2.1).

One interface, :class:`JudgeBackend` (``judge(sample) -> JudgeResult``), three backends: ``openai`` (any
OpenAI-compatible endpoint), ``transformers`` (a local Hugging Face model) and ``rubric`` (a deterministic
scorer from annotated error labels: a sanity baseline, not a judge). The prompt is versioned
(:mod:`qvedbench.judge.prompt`), replies are parsed strictly (:mod:`qvedbench.judge.parse`) and an
unparseable reply is a recorded failure, never an imputed score.
"""
from qvedbench.judge.base import (
    ChatJudgeBackend,
    JudgeBackend,
    JudgeConfigError,
    JudgeResult,
    JudgeUnavailableError,
    ReplyRejected,
)
from qvedbench.judge.parse import JudgeParseError, ParsedReply, parse_judge_reply
from qvedbench.judge.prompt import DIMENSIONS, PROMPT_VERSION, SCORE_KEYS, build_messages
from qvedbench.judge.registry import BACKENDS, make_backend
from qvedbench.judge.run import judge_file, judge_predictions, load_judge_samples, summarise_judgements

__all__ = [
    "BACKENDS", "ChatJudgeBackend", "DIMENSIONS", "JudgeBackend", "JudgeConfigError", "JudgeParseError",
    "JudgeResult", "JudgeUnavailableError", "PROMPT_VERSION", "ParsedReply", "ReplyRejected", "SCORE_KEYS",
    "build_messages", "judge_file", "judge_predictions", "load_judge_samples", "make_backend", "parse_judge_reply",
    "summarise_judgements",
]
