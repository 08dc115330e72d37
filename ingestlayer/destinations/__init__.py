"""Destination adapters, one module each; `REGISTRY` maps the YAML key to the adapter."""

from __future__ import annotations

from ingestlayer.destinations.base import DeliveryContext, Destination
from ingestlayer.destinations.errors import (
    DeliveryError,
    PermanentError,
    RateLimitedError,
    RetryableError,
)
from ingestlayer.destinations.notion import NotionDestination
from ingestlayer.destinations.postgres import PostgresDestination
from ingestlayer.destinations.slack import SlackDestination
from ingestlayer.destinations.webhook import WebhookDestination

REGISTRY: dict[str, type[Destination]] = {
    WebhookDestination.kind: WebhookDestination,
    PostgresDestination.kind: PostgresDestination,
    NotionDestination.kind: NotionDestination,
    SlackDestination.kind: SlackDestination,
}


def build(kind: str, options: dict[str, object]) -> Destination:
    return REGISTRY[kind].model_validate(options)


__all__ = [
    "REGISTRY",
    "DeliveryContext",
    "DeliveryError",
    "Destination",
    "NotionDestination",
    "PermanentError",
    "PostgresDestination",
    "RateLimitedError",
    "RetryableError",
    "SlackDestination",
    "WebhookDestination",
    "build",
]
