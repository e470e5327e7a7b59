"""Build the configured judge backend from the question's settings (``questions.rq5_2_1`` in the config)."""
from __future__ import annotations

from typing import Mapping, Sequence

from qvedbench.judge.base import JudgeBackend

BACKENDS = ("rubric", "openai", "transformers")


def make_backend(settings: Mapping, classes: Sequence[str]) -> JudgeBackend:
    """``settings['backend']`` picks the backend; its options come from the sub-section of the same name."""
    backend = settings.get("backend", "rubric")
    if backend == "rubric":
        from qvedbench.judge.rubric import RubricJudge

        return RubricJudge(classes, (settings.get("rubric") or {}).get("error_patterns"))
    if backend == "openai":
        from qvedbench.judge.openai_compat import OpenAIJudge

        opts = dict(settings.get("openai") or {})
        base_url, model = opts.pop("base_url", None), opts.pop("model", None)
        if not base_url or not model:
            raise ValueError("judge backend 'openai' needs openai.base_url and openai.model in the config")
        return OpenAIJudge(base_url, model, **opts)
    if backend == "transformers":
        from qvedbench.judge.transformers_local import TransformersJudge

        opts = dict(settings.get("transformers") or {})
        path = opts.pop("path", None)
        if not path:
            raise ValueError("judge backend 'transformers' needs transformers.path in the config")
        return TransformersJudge(path, **opts)
    raise ValueError(f"unknown judge backend {backend!r}; use one of {', '.join(BACKENDS)}")
