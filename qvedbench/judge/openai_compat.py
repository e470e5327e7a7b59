"""Judge through any OpenAI-compatible chat endpoint (OpenAI, vLLM, transformers serve, ...).

The API key is read from the environment variable named in the config (never from the config itself) and is
never printed or written; a local server that needs no key gets a placeholder. Requests use temperature 0.

Retries (with exponential backoff ``backoff_s * 2**attempt``, capped at ``max_backoff_s``): timeouts,
connection errors, HTTP 408, 429 and 5xx. After a connection error or a 5xx the client is rebuilt, because
some servers drop the connection after a 500 and the next request on it would fail. HTTP 401, 403 and 404
mean the judge is misconfigured: :class:`JudgeConfigError` stops the job. Other 4xx replies refuse this one
request: the sample is recorded as a failure. When every retry fails, :class:`JudgeUnavailableError` stops
the job; finished samples are kept and a rerun resumes.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping

from qvedbench.judge.base import ChatJudgeBackend, JudgeConfigError, JudgeUnavailableError, ReplyRejected
from qvedbench.secrets import env_secret, redact_text

NO_KEY_PLACEHOLDER = "no-key"
FATAL_STATUS = frozenset({401, 403, 404})
RETRY_STATUS = frozenset({408, 409, 429})


def _openai():
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise JudgeConfigError("the openai judge backend needs the 'openai' package "
                               "(pip install 'qvedbench[serving]')") from exc
    return openai


class OpenAIJudge(ChatJudgeBackend):
    """Chat completions from an OpenAI-compatible server at ``base_url`` (e.g. ``http://host:8000/v1``)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_tokens: int = 256,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ):
        self.base_url, self.model = base_url, model
        self.timeout_s, self.max_retries = float(timeout_s), int(max_retries)
        self.backoff_s, self.max_backoff_s = float(backoff_s), float(max_backoff_s)
        self.max_tokens = int(max_tokens)
        self._sleep = sleep
        self._api_key = env_secret(api_key_env, environ) if api_key_env else NO_KEY_PLACEHOLDER
        self._client = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIJudge(base_url={self.base_url!r}, model={self.model!r})"

    def _connect(self):
        self.close()
        openai = _openai()
        self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key, timeout=self.timeout_s,
                                     max_retries=0)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _request(self, messages: list[dict[str, str]]) -> str:
        client = self._client or self._connect()
        response = client.chat.completions.create(
            model=self.model, messages=messages, temperature=0, max_tokens=self.max_tokens,
        )
        return response.choices[0].message.content or ""

    def complete(self, messages: list[dict[str, str]]) -> str:
        openai = _openai()
        last = ""
        for attempt in range(self.max_retries + 1):
            self.last_attempts = attempt + 1
            try:
                return self._request(messages)
            except openai.APIConnectionError as exc:  # includes timeouts
                last = f"{type(exc).__name__}: {exc}"
                self.close()
            except openai.APIStatusError as exc:
                status = exc.status_code
                detail = redact_text(f"HTTP {status}: {str(exc)[:500]}")
                if status >= 500:
                    self.close()
                elif status in FATAL_STATUS:
                    raise JudgeConfigError(f"judge endpoint {self.base_url} (model {self.model!r}) refused: "
                                           f"{detail}") from None
                elif status not in RETRY_STATUS:
                    raise ReplyRejected(detail) from None
                last = detail
            if attempt < self.max_retries:
                self._sleep(min(self.max_backoff_s, self.backoff_s * 2 ** attempt))
        raise JudgeUnavailableError(f"judge endpoint {self.base_url} failed {self.max_retries + 1} times; "
                                    f"last error: {redact_text(last)}")
