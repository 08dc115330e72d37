"""What one classification asks of a provider: the rendered prompt, the model's input, the schema.

The model sees the rendered prompt followed by its input as JSON: the whole payload, or only the
fields named in `input`. Everything here is pure, so the same event always gives the same
request and therefore the same cache key.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from ingestlayer.classify.config import AnthropicModel, ClassifyStep, OpenAIModel
from ingestlayer.classify.labels import Labels, answer_schema, is_wrapped
from ingestlayer.destinations.errors import PermanentError
from ingestlayer.events import Event, lookup
from ingestlayer.templates import TemplateError, render

__all__ = [
    "SYSTEM_PROMPT",
    "ClassifyRequest",
    "build_request",
    "default_prompt",
    "model_input",
]

SYSTEM_PROMPT = (
    "You label events for an automated pipeline. Read the event and answer only in the "
    "requested JSON format, without explanations."
)


@dataclasses.dataclass(frozen=True)
class ClassifyRequest:
    """One question to a provider; `feedback` is set when a previous answer was rejected."""

    output: str
    labels: Labels
    schema: dict[str, Any]
    system: str
    prompt: str
    input: dict[str, Any]
    event: Event
    attempt: int = 1
    feedback: str | None = None

    @property
    def message(self) -> str:
        """The user message: the prompt, plus why the last answer was rejected on a retry."""
        return f"{self.prompt}\n\n{self.feedback}" if self.feedback else self.prompt

    @property
    def schema_name(self) -> str:
        """Name of the response format / tool; providers allow [A-Za-z0-9_-]{1,64}."""
        return f"classify_{self.output}"[:64]

    def retry(self, reason: str, answer: Any) -> ClassifyRequest:
        shown = json.dumps(answer, ensure_ascii=False, default=str)
        if len(shown) > 300:
            shown = shown[:299] + "…"
        feedback = (
            f"Your previous answer {shown} was rejected: {reason}. "
            "Answer again with an allowed value."
        )
        return dataclasses.replace(self, attempt=self.attempt + 1, feedback=feedback)


def default_prompt(step: ClassifyStep) -> str:
    if isinstance(step.labels, list):
        allowed = ", ".join(step.labels)
        return (
            f"Classify the event below. Set `{step.output}` to exactly one of these labels: "
            f"{allowed}."
        )
    if is_wrapped(step.labels):
        return (
            f"Classify the event below. Set `{step.output}` to a value that matches the "
            "given JSON Schema."
        )
    return "Classify the event below. Answer with a JSON object that matches the given schema."


def model_input(step: ClassifyStep, event: Event) -> dict[str, Any]:
    """The payload, or the fields named in `input` (by path; missing ones are left out)."""
    if step.input is None:
        return copy.deepcopy(event.payload)
    fields = event.fields()
    selected: dict[str, Any] = {}
    for path in step.input:
        found, value = lookup(fields, path.split("."))
        if found:
            selected[path] = copy.deepcopy(value)
    return selected


def build_request(step: ClassifyStep, event: Event) -> ClassifyRequest:
    template = step.prompt if step.prompt is not None else default_prompt(step)
    try:
        # bytes, so a prompt of max_prompt_chars characters always renders; the check below
        # is the one the user configures
        rendered = render(template, event.fields(), limit=4 * step.max_prompt_chars)
    except TemplateError as exc:
        raise _too_large(f"the prompt template renders too much text ({exc})") from None
    if not isinstance(rendered, str):
        rendered = "" if rendered is None else json.dumps(rendered, ensure_ascii=False)
    selected = model_input(step, event)
    shown = json.dumps(selected, ensure_ascii=False, sort_keys=True, default=str)
    prompt = f"{rendered}\n\nEvent fields (JSON):\n{shown}"
    # only a language model reads the prompt; rules and callables get the input itself
    if isinstance(step.model, OpenAIModel | AnthropicModel) and len(prompt) > step.max_prompt_chars:
        raise _too_large(
            f"the rendered prompt is {len(prompt)} characters, more than max_prompt_chars "
            f"({step.max_prompt_chars})"
        )
    return ClassifyRequest(
        output=step.output,
        labels=step.labels,
        schema=answer_schema(step.output, step.labels),
        system=SYSTEM_PROMPT,
        prompt=prompt,
        input=selected,
        event=event,
    )


def _too_large(message: str) -> PermanentError:
    return PermanentError(
        message,
        code="prompt_too_large",
        hint="send the model fewer fields with `input`, a shorter `prompt`, or raise "
        "`max_prompt_chars`",
    )
