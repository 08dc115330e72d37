"""The `classify` step: label an event with the user's own model (or keyword rules).

`classify_event(step, event, cache_dsn=...)` is the one entry point; it raises the shared
destination error types, which the activity maps to Temporal failures.
"""

from __future__ import annotations

from ingestlayer.classify.cache import Cache, cache_for, cache_key, close_caches, memory_cache
from ingestlayer.classify.classifier import classify_event, run_provider
from ingestlayer.classify.config import (
    DEFAULT_MAX_PROMPT_CHARS,
    AnthropicModel,
    CacheConfig,
    ClassifyStep,
    ModelConfig,
    OpenAIModel,
    PythonModel,
    Rule,
    RulesModel,
)
from ingestlayer.classify.labels import InvalidAnswer, answer_schema, check_label
from ingestlayer.classify.memory_cache import MemoryCache
from ingestlayer.classify.postgres_cache import PostgresCache
from ingestlayer.classify.providers import Abstain, Provider, build_provider
from ingestlayer.classify.request import (
    ClassifyRequest,
    build_request,
    default_prompt,
)
from ingestlayer.classify.result import ClassifyResult, Outcome

__all__ = [
    "DEFAULT_MAX_PROMPT_CHARS",
    "Abstain",
    "AnthropicModel",
    "Cache",
    "CacheConfig",
    "ClassifyRequest",
    "ClassifyResult",
    "ClassifyStep",
    "InvalidAnswer",
    "MemoryCache",
    "ModelConfig",
    "OpenAIModel",
    "Outcome",
    "PostgresCache",
    "Provider",
    "PythonModel",
    "Rule",
    "RulesModel",
    "answer_schema",
    "build_provider",
    "build_request",
    "cache_for",
    "cache_key",
    "check_label",
    "classify_event",
    "close_caches",
    "default_prompt",
    "memory_cache",
    "run_provider",
]
