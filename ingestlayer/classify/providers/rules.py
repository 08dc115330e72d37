"""Keyword and regex rules: a classifier with no model at all, so a demo runs offline.

Rules are tried in order and the first match wins; when none matches the step's `default` is
used. A rule looks at one field (`field`, a dotted path over the event's fields, labels of
earlier steps included) or at every string in the model's input (the payload, or the `input`
fields). Keywords match case-insensitively as whole words; `pattern` is a regex searched as
written (add `(?i)` to ignore case). Matching is microseconds of CPU, so it runs inline.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from ingestlayer.classify.config import Rule, RulesModel
from ingestlayer.classify.providers.base import Abstain
from ingestlayer.classify.request import ClassifyRequest
from ingestlayer.events import lookup

__all__ = ["RulesProvider", "matches"]


class RulesProvider:
    kind = "rules"

    def __init__(self, config: RulesModel) -> None:
        self.rules = config.rules

    async def complete(self, request: ClassifyRequest) -> Any:
        fields = request.event.fields()
        for rule in self.rules:
            if rule.field is not None:
                found, value = lookup(fields, rule.field.split("."))
                texts = list(_strings(value)) if found else []
            else:
                texts = list(_strings(request.input))
            if matches(rule, texts):
                return rule.label
        raise Abstain("no rule matched")


def matches(rule: Rule, texts: list[str]) -> bool:
    keywords = _keywords(tuple(rule.keywords)) if rule.keywords else None
    pattern = re.compile(rule.pattern) if rule.pattern is not None else None
    for text in texts:
        if keywords is not None and keywords.search(text):
            return True
        if pattern is not None and pattern.search(text):
            return True
    return False


@functools.lru_cache(maxsize=512)
def _keywords(keywords: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(keyword.strip()) for keyword in keywords)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)
