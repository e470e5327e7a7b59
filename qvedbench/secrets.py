"""Secrets come from the environment only, and never reach logs or written configs.

:func:`env_secret` reads one (an API key for a judge, a hub token) by variable name, so configs name the
variable, never the value. :func:`redact` masks secrets in any JSON/YAML-like object before it is written
(resolved configs, run metadata) and :func:`redact_text` in free text; :class:`RedactingFilter` does the same
for :mod:`logging` records.

What counts as a secret:
- the value of any key whose name says so (``api_key``, ``token``, ``password``, ``secret``, ... or a name
  ending in ``_api_key``, ``_token``, ...): the whole value is masked;
- the value of any environment variable whose name says so (``HF_TOKEN``, ``OPENAI_API_KEY``, ...), wherever
  it appears inside a string, under any key.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

MASK = "***"

# Key names (compared lowercased, '-' read as '_') that hold secrets, alone or as the name's last part.
SECRET_NAMES = (
    "api_key", "apikey", "token", "access_token", "auth_token", "password", "passwd", "secret", "secret_key",
    "private_key", "access_key", "credentials", "authorization",
)
# Environment values shorter than this are not searched for inside text (too likely to match by chance).
MIN_SECRET_LENGTH = 6


class MissingSecretError(KeyError):
    """A secret the configuration needs is not set in the environment."""

    def __str__(self) -> str:
        return str(self.args[0])


def is_secret_name(name: str) -> bool:
    """Whether a config key or environment variable name denotes a secret (``hf_token``: yes;
    ``max_new_tokens``, ``pad_token_id``: no)."""
    key = name.lower().replace("-", "_")
    return any(key == s or key.endswith("_" + s) for s in SECRET_NAMES)


def env_secret(variable: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of the environment variable ``variable``; :class:`MissingSecretError` naming it if unset."""
    environ = os.environ if environ is None else environ
    value = environ.get(variable)
    if not value:
        raise MissingSecretError(f"environment variable {variable!r} is not set (secrets are read from the "
                                 "environment only; export it before running)")
    return value


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the secret-named environment variables, longest first (so a longer secret that contains a
    shorter one is masked whole)."""
    environ = os.environ if environ is None else environ
    values = {v for k, v in environ.items() if is_secret_name(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret environment value replaced by :data:`MASK`."""
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text


def redact(obj: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of ``obj`` (nested dicts, lists, tuples, strings) with secrets masked; other values unchanged.

    Values under secret-named keys are replaced by :data:`MASK` whole (``None`` and empty strings are left as
    they are, so an unset option stays visibly unset); secret environment values are masked inside strings.
    """
    values = secret_values(environ)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (MASK if isinstance(k, str) and is_secret_name(k) and value[k] not in (None, "")
                        else walk(value[k])) for k in value}
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        if isinstance(value, str):
            for secret in values:
                value = value.replace(secret, MASK)
        return value

    return walk(obj)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secret environment values in each record's formatted message."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        super().__init__()
        self.environ = environ

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message, self.environ)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
