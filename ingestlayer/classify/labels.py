"""What a classify step accepts as an answer: the JSON Schema the model is held to, and the check.

`labels` is either a list of allowed strings or a JSON Schema. Structured-output APIs (OpenAI's
`json_schema`, Anthropic's tool `input_schema`) want an object at the root, so a list, or a
schema whose root is not an object, is wrapped as `{"<output>": <label schema>}` on the wire and
unwrapped again here; an object schema is sent as it is and the whole object is the label.
"""

from __future__ import annotations

import functools
import json
from typing import Any

try:  # JSON Schema labels need it; list labels do not
    import jsonschema
    import jsonschema.exceptions
    import jsonschema.validators
except ImportError:  # pragma: no cover - exercised only where the dependency is missing
    jsonschema = None  # type: ignore[assignment]

__all__ = [
    "InvalidAnswer",
    "Labels",
    "answer_schema",
    "check_label",
    "check_schema",
    "is_wrapped",
    "label_schema",
    "unwrap",
]

Labels = list[str] | dict[str, Any]


class InvalidAnswer(Exception):
    """The model answered, but not with an allowed label; the step may ask again."""

    def __init__(self, reason: str, answer: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer


def label_schema(labels: Labels) -> dict[str, Any]:
    if isinstance(labels, list):
        return {"type": "string", "enum": list(labels)}
    return labels


def is_wrapped(labels: Labels) -> bool:
    return isinstance(labels, list) or labels.get("type") != "object"


def answer_schema(output: str, labels: Labels) -> dict[str, Any]:
    """The object schema the model must fill in."""
    if not is_wrapped(labels):
        assert isinstance(labels, dict)
        return labels
    return {
        "type": "object",
        "properties": {output: label_schema(labels)},
        "required": [output],
        "additionalProperties": False,
    }


def unwrap(output: str, labels: Labels, answer: Any) -> Any:
    """The label inside a structured answer (the answer itself for an object schema)."""
    if not is_wrapped(labels):
        return answer
    if not isinstance(answer, dict) or output not in answer:
        raise InvalidAnswer(f"expected a JSON object with the field `{output}`", answer)
    return answer[output]


def check_label(labels: Labels, value: Any) -> Any:
    """The label as stored (a list label in its configured spelling); InvalidAnswer otherwise.

    List labels forgive case and surrounding spaces (`" High"` is `high`), which local models
    without constrained decoding often get wrong; anything else must match exactly.
    """
    if isinstance(labels, list):
        if isinstance(value, str):
            if value in labels:
                return value
            folded = value.strip().casefold()
            matches = [label for label in labels if label.casefold() == folded]
            if len(matches) == 1:
                return matches[0]
        allowed = ", ".join(labels)
        raise InvalidAnswer(f"{_short(value)} is not one of: {allowed}", value)
    error = _validator(json.dumps(labels, sort_keys=True)).best_error(value)
    if error is not None:
        raise InvalidAnswer(f"{_short(value)} does not match the label schema: {error}", value)
    return value


def check_schema(schema: dict[str, Any]) -> None:
    """ValueError when `schema` is not a valid JSON Schema (or cannot be checked here)."""
    if jsonschema is None:
        raise ValueError(
            "labels given as a JSON Schema need the `jsonschema` package in the worker"
        )
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise ValueError(f"labels is not a valid JSON Schema: {exc.message}") from None


class _Validator:
    def __init__(self, schema: dict[str, Any]) -> None:
        cls = jsonschema.validators.validator_for(schema)
        self._validator = cls(schema)

    def best_error(self, value: Any) -> str | None:
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path)
        return f"{error.message} (at /{where})" if where else error.message


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> _Validator:
    return _Validator(json.loads(schema_json))


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
