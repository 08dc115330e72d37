"""The `redact.pii` step's public names, in the place the rest of the code imports them from.

The implementation lives in `ingestlayer.redaction` (config model, presidio engine, payload walk).
"""

from __future__ import annotations

from ingestlayer.redaction import (
    DEFAULT_ENTITIES,
    MODEL_NAME,
    SUPPORTED_ENTITIES,
    Finding,
    Operator,
    RedactionEngine,
    RedactionReport,
    RedactStep,
    apply_operator,
    get_engine,
    redact_payload,
    redact_payload_async,
    redact_text,
    warm_up,
)

__all__ = [
    "DEFAULT_ENTITIES",
    "MODEL_NAME",
    "SUPPORTED_ENTITIES",
    "Finding",
    "Operator",
    "RedactStep",
    "RedactionEngine",
    "RedactionReport",
    "apply_operator",
    "get_engine",
    "redact_payload",
    "redact_payload_async",
    "redact_text",
    "warm_up",
]
