"""`${ENV_NAME}` references: kept verbatim in config and workflow history, resolved only in
activities; what they resolve to is kept out of every message (`scrub`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

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


_CREDENTIAL_KEYS = frozenset({"token", "secret", "secrets", "api_key", "password"})
_CREDENTIAL_HEADER = re.compile(r"authorization|token|secret|password|api[-_]?key|signature", re.I)


def _is_reference(value: object) -> bool:
    return isinstance(value, str) and ENV_REF.fullmatch(value) is not None


def dsn_passwords(dsn: str) -> list[str]:
    """The passwords a database URL carries (user info and `?password=`), as written there."""
    try:
        parts = urlsplit(dsn)
        passwords = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    except ValueError:
        return []
    return [pw for pw in passwords if pw]


def _dsn_password_is_literal(dsn: str) -> bool:
    return any(not ENV_REF.fullmatch(unquote(pw)) for pw in dsn_passwords(dsn))


def literal_secrets(options: Mapping[str, object], path: str = "") -> list[str]:
    """Paths in destination settings whose credential is written out instead of `${ENV}`.

    Settings travel in the workflow's input, so a literal token would sit in Temporal's history:
    credentials (tokens, signing secrets, DSN passwords, credential-like headers) must be
    references that the worker resolves."""
    found: list[str] = []
    for key, value in options.items():
        where = f"{path}{key}"
        if key in _CREDENTIAL_KEYS:
            items = value if isinstance(value, list) else [value]
            if any(item is not None and not _is_reference(item) for item in items):
                found.append(where)
        elif key == "dsn" and isinstance(value, str) and _dsn_password_is_literal(value):
            found.append(f"{where} (its password)")
        elif key == "headers" and isinstance(value, Mapping):
            found += [
                f"{where}.{name}"
                for name, header in value.items()
                if _CREDENTIAL_HEADER.search(str(name)) and not references(str(header))
            ]
        elif isinstance(value, Mapping):
            found += literal_secrets(value, f"{where}.")
    return found


def literal_secret_message(paths: list[str]) -> str:
    return (
        f"{', '.join(paths)}: write credentials as ${{ENV_NAME}} references set in the worker's "
        "environment, not as literal values (settings are stored in workflow history)"
    )
