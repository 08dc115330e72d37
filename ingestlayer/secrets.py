"""`${ENV_NAME}` references: kept verbatim in config and workflow history, resolved only in activities."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ingestlayer.destinations.errors import PermanentError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
