"""The `redact.pii` step as users write it in pipeline YAML, and the report it leaves behind.

Importing this module is cheap (no presidio, no spaCy): the API process validates pipeline files
with it and never loads a model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_ENTITIES",
    "SUPPORTED_ENTITIES",
    "Operator",
    "RedactStep",
    "RedactionReport",
]

SUPPORTED_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "PERSON",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "LOCATION",
)
DEFAULT_ENTITIES: tuple[str, ...] = SUPPORTED_ENTITIES

Operator = Literal["replace", "mask", "hash"]


class RedactStep(BaseModel):
    """`redact.pii: {fields: [body], entities: [...], operator: replace, allow: [...]}`.

    - `fields`: dotted paths into the payload (`body`, `customer.notes`, `items.0.text`); a
      path through a list without an index applies to every element. `None` (the default)
      means every string in the payload, nested dicts and lists included. A path that is
      missing is skipped; a dict or list at a path is redacted string by string; numbers,
      booleans and nulls are left alone.
    - `operator`: `replace` writes `<ENTITY_TYPE>`; `mask` writes one `*` per character of the
      value (separators included, so the length survives and nothing else does); `hash` writes
      the full 64-character sha256 hex digest of the value's UTF-8 bytes. The hash is unsalted
      so the same value always maps to the same digest (useful for joining), which also means
      low-entropy values such as phone numbers can be recovered by enumeration: use `replace`
      when that matters.
    - `allow`: values that are never redacted (exact match on the detected value, ignoring
      case and surrounding whitespace).
    - `score_threshold`: detections scoring below it are kept as they are. Validated matches
      (Luhn, IBAN mod-97, parsed IPs, phone numbers valid for their region, e-mails with a real
      public suffix) score 0.6-1.0, names and places from the NER model 0.85, names found by
      greeting / sign-off / introduction cues 0.7, unhyphenated SSN-like numbers 0.05.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: list[str] | None = None
    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_ENTITIES))
    operator: Operator = "replace"
    allow: list[str] = Field(default_factory=list)
    score_threshold: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "`fields` names at least one payload field; leave it out to redact every string"
            )
        cleaned: list[str] = []
        for path in value:
            path = path.strip()
            if not path or any(not part.strip() for part in path.split(".")):
                raise ValueError(
                    f"{path!r} is not a dotted payload path like body or customer.notes"
                )
            if path not in cleaned:
                cleaned.append(path)
        return cleaned

    @field_validator("entities")
    @classmethod
    def _check_entities(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("`entities` names at least one entity type")
        cleaned: list[str] = []
        for name in value:
            entity = name.strip().upper()
            if entity not in SUPPORTED_ENTITIES:
                raise ValueError(
                    f"unknown entity {name!r}; supported: {', '.join(SUPPORTED_ENTITIES)}"
                )
            if entity not in cleaned:
                cleaned.append(entity)
        return cleaned


class RedactionReport(BaseModel):
    """What was redacted where, as counts only: the values themselves never appear here.

    `{"fields": {"body": {"EMAIL_ADDRESS": 1, "PERSON": 2}}, "total": 3}`; nested strings are
    named by their dotted path (`customer.notes`, `messages.0.text`).
    """

    model_config = ConfigDict(frozen=True)

    fields: dict[str, dict[str, int]] = Field(default_factory=dict)
    total: int = 0
