"""A presidio `NlpEngine` that runs spaCy's NER only on the few words that could be names.

Presidio's `SpacyNlpEngine` runs the whole spaCy pipeline over every character (tagger, parser,
lemmatizer, NER: ~25-35 ms per 500 characters with the sm model) before any recognizer looks at
the text. Here:

1. a regex splits the text into words (`names.Tokens`, ~0.05 ms), enough for presidio's context
   words ("phone", "iban", ...) and for the name rules;
2. greeting / sign-off / introduction / title cues name people outright (`names.cue_names`);
3. the NER alone (its own small tok2vec; nothing else of the pipeline is loaded) reads only a
   couple of words either side of the remaining capitalized words: the windows, one per line,
   make one small `Doc`. Its cost is ~0.9 ms per call plus ~50 µs per token, so the words it
   never sees are where the time is saved. The NER's receptive field is 4 tokens (window 1,
   depth 4): two words of context change little.

The findings travel to `recognizers.NameRecognizer` on `TicketArtifacts.names` as character
offsets with presidio's entity names (PERSON, LOCATION); lemmas are the lower-cased words, which
is all presidio's context enhancer needs.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.pipeline import EntityRecognizer
from spacy.tokens import Doc
from thinc.api import NumpyOps

from ingestlayer.redaction.names import Tokens, cue_names, ner_candidates, windows

__all__ = ["NER_LABELS", "TicketArtifacts", "TokenContextEnhancer", "WindowedNerEngine"]

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019.\-][^\W\d_]*)*")
# spaCy (OntoNotes) label -> presidio entity, as in presidio's default NER configuration.
NER_LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}


class TicketArtifacts(NlpArtifacts):
    """NlpArtifacts without a spaCy Doc for the whole text (none was made).

    `tokens_indices` and `lemmas` describe every word of the text (from the regex split);
    `names` holds (start, end, entity, score) for the names and places found.
    """

    def __init__(
        self,
        *,
        empty: Doc,
        words: Tokens,
        names: list[tuple[int, int, str, float]],
        nlp_engine: NlpEngine,
    ) -> None:
        super().__init__(
            entities=[],
            tokens=empty,
            tokens_indices=words.start,
            lemmas=words.lower,
            nlp_engine=nlp_engine,
            language="en",
        )
        self.names = names


class TokenContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context enhancer, locating the match among `tokens_indices` (every word of
    the text) rather than in a spaCy Doc (there is none for the whole text)."""

    def _extract_surrounding_words(
        self, nlp_artifacts: NlpArtifacts, word: str, start: int
    ) -> list[str]:
        if not nlp_artifacts.tokens_indices:
            return [""]
        index = max(0, bisect_right(nlp_artifacts.tokens_indices, start) - 1)
        before = self._add_n_words_backward(
            index, self.context_prefix_count, nlp_artifacts.lemmas, nlp_artifacts.keywords
        )
        after = self._add_n_words_forward(
            index, self.context_suffix_count, nlp_artifacts.lemmas, nlp_artifacts.keywords
        )
        return list(set(before + after))


class WindowedNerEngine(NlpEngine):
    """Regex words everywhere, cue rules for names, NER in small windows around candidates."""

    def __init__(
        self, nlp: Language, *, context: int = 2, ner_score: float = 0.85, cue_score: float = 0.7
    ) -> None:
        if nlp.pipe_names != ["ner"]:
            raise ValueError(f"expected a pipeline with only the NER, got {nlp.pipe_names}")
        ner = nlp.get_pipe("ner")
        if not isinstance(ner, EntityRecognizer):
            raise TypeError(f"the `ner` pipe is a {type(ner).__name__}, not an EntityRecognizer")
        self.nlp = nlp
        self.ner = ner
        self.context = context
        self.ner_score = ner_score
        self.cue_score = cue_score
        # numpy's BLAS beats thinc's bundled blis on these small matrices (~25% faster NER).
        ops = NumpyOps(use_blis=False)
        for node in self.ner.model.walk():
            node.ops = ops
        self._empty = Doc(nlp.vocab, words=[])

    # -- the NlpEngine interface -----------------------------------------------------------

    def load(self) -> None:
        """The spaCy pipeline is loaded by the caller (with only the NER enabled)."""

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        self._check_language(language)
        return self.artifacts(text, names=True)

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: Any,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        self._check_language(language)
        for text in texts:
            yield text, self.artifacts(str(text), names=True)

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in STOP_WORDS

    def is_punct(self, word: str, language: str) -> bool:
        return bool(word) and not any(ch.isalnum() for ch in word)

    def get_supported_entities(self) -> list[str]:
        return ["PERSON", "LOCATION"]

    def get_supported_languages(self) -> list[str]:
        return ["en"]

    # -- ours ------------------------------------------------------------------------------

    def artifacts(self, text: str, *, names: bool) -> TicketArtifacts:
        """Words for the context enhancer, plus PERSON/LOCATION findings when `names` is set.

        Call inside `nlp.memory_zone()`: the Docs it makes must not outlive the zone.
        """
        words = Tokens.scan(text)
        found: list[tuple[int, int, str, float]] = []
        if names:
            cues = cue_names(words)
            found = [(words.start[a], words.end[b - 1], "PERSON", self.cue_score) for a, b in cues]
            ranges = windows(ner_candidates(words, cues), len(words), self.context)
            if ranges:
                found += self._ner(text, [(words.start[a], words.end[b - 1]) for a, b in ranges])
        return TicketArtifacts(empty=self._empty, words=words, names=found, nlp_engine=self)

    def _ner(self, text: str, ranges: list[tuple[int, int]]) -> list[tuple[int, int, str, float]]:
        """NER over the windows, joined by line breaks into one Doc (one batch of ~1 ms, where
        a Doc per window would cost ~0.25 ms more each)."""
        starts: list[int] = []  # where each window begins in the joined text
        pieces: list[str] = []
        pos = 0
        for start, end in ranges:
            starts.append(pos)
            pieces.append(text[start:end])
            pos += end - start + 1
        doc = self.ner(self.nlp.make_doc("\n".join(pieces)))
        found = []
        for ent in doc.ents:
            entity = NER_LABELS.get(ent.label_)
            # Names are words: drop pieces of ids or numbers the model glued on ("-852cff7 Uma").
            words = [tok for tok in ent if _WORD.fullmatch(tok.text)]
            if entity is None or not words or "\n" in ent.text:
                continue
            start, end = words[0].idx, words[-1].idx + len(words[-1])
            k = bisect_right(starts, start) - 1
            shift = ranges[k][0] - starts[k]
            found.append((start + shift, end + shift, entity, self.ner_score))
        return found

    @staticmethod
    def _check_language(language: str) -> None:
        if language != "en":
            raise ValueError(f"redaction supports English text only, not {language!r}")
