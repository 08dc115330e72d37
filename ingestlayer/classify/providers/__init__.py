"""Model providers behind one interface; `build_provider` picks one from the step's `model`."""

from __future__ import annotations

from ingestlayer.classify.config import (
    AnthropicModel,
    ModelConfig,
    OpenAIModel,
    PythonModel,
    RulesModel,
)
from ingestlayer.classify.providers.anthropic import AnthropicProvider
from ingestlayer.classify.providers.base import Abstain, Provider
from ingestlayer.classify.providers.openai import OpenAIProvider
from ingestlayer.classify.providers.python import PythonProvider
from ingestlayer.classify.providers.rules import RulesProvider


def build_provider(model: ModelConfig) -> Provider:
    if isinstance(model, OpenAIModel):
        return OpenAIProvider(model)
    if isinstance(model, AnthropicModel):
        return AnthropicProvider(model)
    if isinstance(model, PythonModel):
        return PythonProvider(model)
    if isinstance(model, RulesModel):
        return RulesProvider(model)
    raise TypeError(f"no provider for {type(model).__name__}")


__all__ = [
    "Abstain",
    "AnthropicProvider",
    "OpenAIProvider",
    "Provider",
    "PythonProvider",
    "RulesProvider",
    "build_provider",
]
