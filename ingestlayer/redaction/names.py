"""Where names can be in a ticket, read from the words alone (no model, not even spaCy's).

Two outputs over `Tokens`, a regex split of the text (~0.05 ms per 500 characters; spaCy's
tokenizer takes 0.6-0.9 ms inside a memory zone, where it can neither cache nor keep lexemes):

- `cue_names`: names that the surrounding words give away: after a greeting (`Hi Maria,`), in a
  sign-off (`Thanks,\\nMaria Gonzalez`, `Cheers, Bob`, `-- \\nNoor Sato`, a name alone on one
  of the last lines), after an introduction (`my name is`, `I'm ... from`), a title (`Dr.`), a
  label (`From:`, `Account holder:`) or a word that only people follow (`ask`, `cc'd`,
  `colleague`, `spoke with`, `add ... as`), or before `here,` / `said` / `from`. These are
  PERSON without asking the statistical model (which misses many of them: it is the sm model).
- `ner_candidates`: the other capitalized words that could be a name or a place. Only small
  windows around them are shown to spaCy's NER, which is what keeps redaction cheap: the NER
  costs ~1 ms per call plus ~50 µs per token.

A sentence-initial capitalized word is only a candidate when the next word is capitalized too or
typically follows a person (`Kenji from support told me`): otherwise every `Customers`,
`Attached`, `Unfortunately` would cost a window. Brand-shaped words (`HubSpot`) and runs ending
in a company suffix (`Vandelay Industries`) are not candidates either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spacy.lang.en.stop_words import STOP_WORDS

from ingestlayer.redaction.words import (
    AFTER_INTRO,
    BEFORE_NAME,
    BEFORE_NAME_PAIRS,
    CLOSING_FIRST,
    CLOSINGS,
    CUE_WORDS,
    GREETING_FILLERS,
    GREETINGS,
    INTROS,
    LABELS,
    NAME_FOLLOWERS,
    NAME_PREFIXES,
    NOT_NAMES,
    ORG_SUFFIXES,
    PARTICLES,
    SAYS,
    SENTENCE_END,
    SIGNATURE_SEPARATORS,
    TITLES,
)

__all__ = ["Tokens", "cue_names", "ner_candidates", "windows"]

MAX_RUN = 4  # words in a name

_CONTRACTED = frozenset({"don", "can", "won", "didn", "doesn", "isn", "wasn", "aren", "haven", "hasn", "couldn", "shouldn", "wouldn", "let"})  # fmt: skip


def _cap(text: str) -> bool:
    """A capitalized word that could be (part of) a name: Maria, O'Brien, Jean-Luc."""
    if len(text) < 2 or not text[0].isupper() or text.isupper():
        return False
    if not text.replace("'", "").replace("-", "").replace("\u2019", "").isalpha():
        return False
    head = text.replace("\u2019", "'").split("'")[0].lower()
    return head == text.lower() or not (head in STOP_WORDS or head in _CONTRACTED)


# Line breaks, words (letters with inner apostrophes or hyphens: O'Brien, Jean-Luc), other
# alphanumeric runs, and single punctuation characters. Other whitespace separates tokens.
_TOKEN = re.compile(r"[\r\n]\s*|[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*|\w+|[^\w\s]")


@dataclass
class Tokens:
    """The per-token facts the rules need; offsets are into the scanned text."""

    text: list[str]
    lower: list[str]
    start: list[int]
    end: list[int]
    brk: list[bool]  # a line break
    punct: list[bool]
    cap: list[bool]  # capitalized word (Maria, O'Brien), not ALL CAPS
    initial: list[bool]  # first word of a sentence or a line

    @classmethod
    def scan(cls, text: str) -> Tokens:
        words: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        for match in _TOKEN.finditer(text):
            words.append(match.group())
            starts.append(match.start())
            ends.append(match.end())
        brk = [w[0] in "\r\n" for w in words]
        punct = [
            not b and not w[0].isalnum() and w[0] != "_" for w, b in zip(words, brk, strict=True)
        ]
        initial: list[bool] = []
        at_start = True
        for k, word in enumerate(words):
            initial.append(at_start)
            at_start = brk[k] or word in SENTENCE_END
        return cls(
            text=words,
            lower=[w.lower() for w in words],
            start=starts,
            end=ends,
            brk=brk,
            punct=punct,
            cap=[_cap(w) for w in words],
            initial=initial,
        )

    def __len__(self) -> int:
        return len(self.text)

    def run(self, i: int) -> int:
        """End (exclusive) of the run of capitalized name-like words starting at i."""
        end, n = i, len(self.text)
        while end < n and end - i < MAX_RUN:
            if self.cap[end] and self.lower[end] not in NOT_NAMES:
                end += 1
            elif end > i and self.lower[end] in PARTICLES and end + 1 < n and self.cap[end + 1]:
                end += 1
            else:
                break
        return end

    def ends_line(self, end: int) -> bool:
        """The run ending here is the last thing on its line (punctuation such as `,` aside)."""
        if end >= len(self.text):
            return True
        return self.brk[end] or (self.punct[end] and self.text[end] not in {"'", "&"})

    def next_word(self, i: int, *, cross_lines: bool) -> int:
        n = len(self.text)
        while i < n:
            if self.brk[i] and not cross_lines:
                return n
            if not (self.brk[i] or self.punct[i]):
                return i
            i += 1
        return i

    def closing_end(self, i: int) -> int:
        """End of the longest closing phrase (`Thanks`, `Kind regards`, ...) starting at i."""
        best, words = i, []
        for j in range(i, min(len(self.text), i + 5)):
            if self.brk[j] or self.punct[j]:
                break
            words.append(self.lower[j])
            if " ".join(words) in CLOSINGS:
                best = j + 1
        return best


def _greeting(tk: Tokens, i: int) -> tuple[int, int] | None:
    j = i + 1
    while j < len(tk) and j < i + 3 and tk.lower[j] in GREETING_FILLERS:
        j += 1
    end = tk.run(j)
    return (j, end) if end > j else None


def _run_at(tk: Tokens, j: int) -> tuple[int, int] | None:
    end = tk.run(j) if j < len(tk) else j
    return (j, end) if end > j else None


def _signature(tk: Tokens, i: int) -> tuple[int, int] | None:
    """`--` alone on a line (the e-mail signature separator): the next line starts with a name."""
    j = i
    while j < len(tk) and tk.text[j] in {"-", "_", "\u2014"}:
        j += 1
    if j - i < 1 or (j - i < 2 and tk.text[i] != "\u2014") or (j < len(tk) and not tk.brk[j]):
        return None
    start = tk.next_word(j, cross_lines=True)
    end = tk.run(start) if start < len(tk) else start
    return (start, end) if end > start and tk.ends_line(end) else None


def _lines(tk: Tokens) -> list[tuple[int, int]]:
    """Token ranges of the non-empty lines."""
    lines: list[tuple[int, int]] = []
    start = 0
    for k in range(len(tk) + 1):
        if k == len(tk) or tk.brk[k]:
            if k > start:
                lines.append((start, k))
            start = k + 1
    return lines


def _name_line_at_end(tk: Tokens) -> tuple[int, int] | None:
    """A name of two or three words alone on a line near the end, below which there are only
    contact details or more capitalized lines (company, title): a signature. A single word
    alone on a line is left to the NER (`Done`, `Solved` end tickets too)."""
    lines = _lines(tk)
    found = None
    for start, end in reversed(lines[1:]):
        run_end = tk.run(start)
        if run_end > start and (run_end == end or tk.text[run_end] in SIGNATURE_SEPARATORS):
            found = (start, run_end)  # keep climbing: the topmost such line is the name
        elif not _is_contact(tk, start, end):
            break
    return found if found is not None and 2 <= found[1] - found[0] <= 3 else None


def _is_contact(tk: Tokens, start: int, end: int) -> bool:
    """Phone numbers, e-mail addresses, ALL-CAPS: no lower-case word outside an address."""
    if any(tk.text[k] in {"@", "+"} or tk.text[k][0].isdigit() for k in range(start, end)):
        return True
    return not any(tk.lower[k].isalpha() and not tk.cap[k] for k in range(start, end))


def _title(tk: Tokens, i: int) -> tuple[int, int] | None:
    if not tk.text[i][0].isupper() or i + 1 >= len(tk):
        return None
    j = i + 2 if tk.text[i + 1] == "." else i + 1
    end = tk.run(j)
    return (j, end) if end > j else None


def _closing(tk: Tokens, i: int) -> tuple[int, int] | None:
    phrase_end = tk.closing_end(i)
    if phrase_end == i:
        return None
    start = tk.next_word(phrase_end, cross_lines=False)
    if start >= len(tk):
        start = tk.next_word(phrase_end, cross_lines=True)
    end = tk.run(start) if start < len(tk) else start
    return (start, end) if end > start and tk.ends_line(end) else None


def _intro(tk: Tokens, i: int) -> tuple[int, int] | None:
    n = len(tk)
    for words, strong in INTROS[tk.lower[i]]:
        j = i + len(words)
        if j > n or tuple(tk.lower[i:j]) != words:
            continue
        end = tk.run(j)
        if end == j:
            return None
        if strong or end >= n or tk.brk[end] or tk.lower[end] in AFTER_INTRO:
            return (j, end)
        return None
    return None


def cue_names(tk: Tokens) -> list[tuple[int, int]]:
    """Token ranges [start, end) that the context marks as a person's name."""
    found: list[tuple[int, int]] = []
    n = len(tk)
    i = 0
    while i < n:
        low = tk.lower[i]
        span: tuple[int, int] | None = None
        if low in GREETINGS:
            span = _greeting(tk, i)
        elif low.rstrip(".") in TITLES:
            span = _title(tk, i)
        elif low in CLOSING_FIRST and tk.initial[i]:
            span = _closing(tk, i)
        elif low in LABELS and i + 1 < n and tk.text[i + 1] == ":":
            span = _run_at(tk, i + 2)
        elif low in INTROS:
            span = _intro(tk, i)
        elif low in BEFORE_NAME or (
            low in BEFORE_NAME_PAIRS and i + 1 < n and tk.lower[i + 1] in BEFORE_NAME_PAIRS[low]
        ):
            j = i + 1 if low in BEFORE_NAME else i + 2
            end = tk.run(j)
            span = (j, end) if end > j else None
        elif low == "add":
            end = tk.run(i + 1)
            span = (i + 1, end) if end > i + 1 and end < n and tk.lower[end] == "as" else None
        elif tk.text[i] in {"-", "_", "\u2014"} and tk.initial[i]:
            span = _signature(tk, i)
        elif tk.cap[i] and tk.initial[i]:
            end = tk.run(i)
            if end > i and end < n:
                if tk.lower[end] == "here" and end + 1 < n and tk.punct[end + 1]:
                    span = (i, end)
                elif end - i >= 2 and tk.lower[end] in SAYS:
                    span = (i, end)
        if span is not None:
            found.append(span)
            i = span[1]
        else:
            i += 1
    last = _name_line_at_end(tk)
    if last is not None and not any(a < last[1] and last[0] < b for a, b in found):
        found.append(last)
    return found


def _brand(word: str) -> bool:
    """CamelCase with an inner capital (HubSpot, PayPal, GitHub), unlike McDonald or DeShawn."""
    inner = [k for k in range(1, len(word)) if word[k].isupper() and word[k - 1].islower()]
    return bool(inner) and not word.startswith(NAME_PREFIXES)


def _organizations(tk: Tokens) -> set[int]:
    """Tokens of capitalized runs that end in a company suffix (Vandelay Industries, Acme Inc)."""
    out: set[int] = set()
    for i in range(len(tk)):
        if (
            tk.lower[i].rstrip(".") in ORG_SUFFIXES
            and i > 0
            and (tk.cap[i - 1] or tk.text[i - 1] == "&")
        ):
            j = i
            while j > 0 and (tk.cap[j - 1] or tk.text[j - 1] == "&"):
                j -= 1
            out.update(range(j, i + 1))
    return out


def ner_candidates(tk: Tokens, taken: list[tuple[int, int]]) -> list[int]:
    """Capitalized tokens, outside `taken`, that the NER should look at.

    Not: cue words and titles (the cues read them), brand-shaped words (HubSpot) and runs
    ending in a company suffix (Vandelay Industries, Lumen & Co), which are not people.
    """
    skip = {k for start, end in taken for k in range(start, end)} | _organizations(tk)
    out: list[int] = []
    n = len(tk)
    for i in range(n):
        if not tk.cap[i] or i in skip:
            continue
        low = tk.lower[i]
        if low in STOP_WORDS or low in NOT_NAMES or low in CUE_WORDS or _brand(tk.text[i]):
            continue
        if tk.initial[i]:
            if i + 1 >= n or tk.brk[i + 1]:
                if i == 0 or tk.brk[i - 1]:
                    out.append(i)  # a word alone on its line: a sign-off, perhaps
                continue
            nxt = tk.lower[i + 1]
            cap_next = tk.cap[i + 1] and nxt not in STOP_WORDS and nxt not in NOT_NAMES
            if not cap_next and nxt not in NAME_FOLLOWERS:
                continue
        out.append(i)
    return out


def windows(candidates: list[int], length: int, context: int) -> list[tuple[int, int]]:
    """Merged token ranges of `context` tokens either side of each candidate."""
    spans: list[tuple[int, int]] = []
    for i in candidates:
        start, end = max(0, i - context), min(length, i + context + 1)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans
