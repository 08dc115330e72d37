"""`${ENV_NAME}` references: kept verbatim in config and workflow history, resolved only in
activities; what they resolve to is kept out of every message (`scrub`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from ingestlayer.destinations.errors import PermanentError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
REDACTED = "***"


def resolve(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every `${NAME}` with the environment's value; a missing one is the user's to fix."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise PermanentError(
                f"environment variable {name} is not set in the worker",
                code="missing_secret",
                hint=f"set {name} in the worker's environment and redeliver",
            )
        return env[name]

    return ENV_REF.sub(substitute, value)


def references(value: str) -> list[str]:
    return ENV_REF.findall(value)


def values(value: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """What the set `${NAME}` references in `value` stand for: text no message may quote."""
    env = os.environ if environ is None else environ
    return [env[name] for name in references(value) if env.get(name)]


def scrub(text: str, hidden: Iterable[str]) -> str:
    """`text` with every hidden value replaced by ***, longest first (one may contain another).

    For text from outside (a receiver's or a provider's error body, a driver's message), which
    may quote the credentials it was sent."""
    for secret in sorted({h for h in hidden if h}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
