"""The `redact.pii` step: strip PII from payload fields before delivery, with presidio, fast.

`redact_payload(payload, step)` returns a redacted copy and a `RedactionReport` of counts per
field and entity type (never the values). Structured PII comes from presidio's pattern
recognizers with validation (Luhn, IBAN mod-97, SSN rules, `ipaddress`, `phonenumbers`, public
suffixes); names and places from greeting / sign-off / introduction cues plus spaCy's NER run
only on small windows around candidate words. See `bench/redaction.py` for speed and recall.

Importing this package is cheap; the models load on first use or at `warm_up()`.
"""

from __future__ import annotations

from ingestlayer.redaction.engine import MODEL_NAME, Finding, RedactionEngine, get_engine, warm_up
from ingestlayer.redaction.models import (
    DEFAULT_ENTITIES,
    SUPPORTED_ENTITIES,
    Operator,
    RedactionReport,
    RedactStep,
)
from ingestlayer.redaction.payload import (
    apply_operator,
    redact_payload,
    redact_payload_async,
    redact_text,
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
