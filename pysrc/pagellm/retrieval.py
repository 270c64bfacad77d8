"""Passages and retrieval: split a text into passages, rank them for a question with BM25 and (when
given) embeddings, and fuse the two rankings. Pure Python: the same code runs in the page's worker
and on CPython; the embedding model is whatever callable or vectors the caller brings.

    >>> text = "Cats purr when content.\\n\\nThe Eiffel Tower is in Paris.\\n\\nBread needs flour and yeast."
    >>> index = PassageIndex.build(text, target_words=4)
    >>> [index.passage_text(p) for p in index.passages][1]
    'The Eiffel Tower is in Paris.'
    >>> hits = search([index], "Where is the Eiffel Tower?", k=1)
    >>> hits[0].passage.number, hits[0].methods
    (2, ('bm25',))

With embeddings (``embed`` turns a list of texts into a list of vectors)::

    index.set_vectors(embed(index.texts()), model="all-minilm-l6-v2")
    search([index], question, k=8, query_vector=embed([question])[0])

An index serializes to a small dict (passage offsets and the vectors, not the text: the text is the
attachment's), and ``PassageIndex.from_dict(text, data)`` reads it back.
"""

from __future__ import annotations

import base64
import bisect
import math
import re
from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from .errors import InputError

__all__ = ["Passage", "PassageIndex", "Hit", "BM25", "split_passages", "terms", "search", "fuse_ranks",
           "embed_index", "Embed"]

# Texts -> one vector per text (e.g. all-MiniLM-L6-v2, mean-pooled and normalized).
Embed = Callable[[list[str]], Sequence[Sequence[float]]]

# all-MiniLM-L6-v2 reads at most 256 word pieces; 180 words stay under that for ordinary prose.
TARGET_WORDS = 120
MAX_WORDS = 180
RRF_K = 60  # reciprocal-rank fusion's constant (Cormack et al. 2009): damps the weight of the very top ranks
INDEX_VERSION = 1
BM25_FLOOR = 0.5  # a share of the best BM25 score

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v\r]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_WORD = re.compile(r"\S+")
_TERM = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have he her his how i in is it its of on or she that the their "
    "them they this to was were what when where which who why will with you your do does did not".split())


@dataclass(frozen=True)
class Passage:
    """A span of a text: ``number`` (1-based), ``start``/``end`` character offsets, ``page`` (1-based, or
    None for a text without pages)."""

    number: int
    start: int
    end: int
    page: int | None = None

    def to_list(self) -> list:
        return [self.start, self.end, self.page]


@dataclass
class Hit:
    """A passage found for a question: its fused ``score`` and the ``methods`` that ranked it
    ("bm25", "embedding"); ``index`` is the PassageIndex it belongs to."""

    index: "PassageIndex"
    passage: Passage
    score: float
    methods: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.index.passage_text(self.passage)


# ---------------------------------------------------------------------------------------------------
# Splitting.

def split_passages(text: str, pages: Sequence[int] | None = None, *, target_words: int = TARGET_WORDS,
                   max_words: int = MAX_WORDS) -> list[Passage]:
    """Passages of about ``target_words`` words (at most ``max_words``): whole paragraphs packed together,
    a long paragraph cut at sentence ends (or, failing that, between words). A passage never crosses a
    page boundary, so its page is exact. ``pages`` holds each page's start offset in ``text``.

    >>> [(p.start, p.end, p.page) for p in split_passages("one two\\n\\nthree", [0, 9], target_words=2)]
    [(0, 7, 1), (9, 14, 2)]
    """
    if target_words < 1 or max_words < target_words:
        raise InputError("Passages need target_words >= 1 and max_words >= target_words.")
    bounds = list(pages or [0]) + [len(text)]
    spans: list[tuple[int, int, int | None]] = []
    for page_number, (page_start, page_end) in enumerate(zip(bounds, bounds[1:]), 1):
        page = page_number if pages else None
        spans += [(s, e, page) for s, e in _pack(text, page_start, page_end, target_words, max_words)]
    return [Passage(n, s, e, page) for n, (s, e, page) in enumerate(spans, 1)]


def _pack(text: str, start: int, end: int, target: int, most: int) -> Iterable[tuple[int, int]]:
    """(start, end) spans covering text[start:end]'s words, packed from paragraphs (then sentences, words)."""
    pieces = []  # (start, end, words) of units no longer than `most` words
    for p_start, p_end in _spans(text, start, end, _PARAGRAPH_BREAK):
        words = _count_words(text, p_start, p_end)
        if words <= most:
            pieces.append((p_start, p_end, words))
            continue
        for s_start, s_end in _spans(text, p_start, p_end, _SENTENCE_END):
            pieces += _cut_words(text, s_start, s_end, most)
    current: list[int] | None = None  # [start, end, words]
    for p_start, p_end, words in pieces:
        if current and (current[2] >= target or current[2] + words > most):
            yield current[0], current[1]
            current = None
        if current is None:
            current = [p_start, p_end, words]
        else:
            current[1], current[2] = p_end, current[2] + words
    if current:
        yield current[0], current[1]


def _spans(text: str, start: int, end: int, separator: re.Pattern) -> Iterable[tuple[int, int]]:
    """Non-blank spans of text[start:end] between matches of ``separator``, trimmed of spaces."""
    position = start
    for match in separator.finditer(text, start, end):
        yield from _trimmed(text, position, match.start())
        position = match.end()
    yield from _trimmed(text, position, end)


def _trimmed(text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def _count_words(text: str, start: int, end: int) -> int:
    return sum(1 for _ in _WORD.finditer(text, start, end))


def _cut_words(text: str, start: int, end: int, most: int) -> list[tuple[int, int, int]]:
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    return [(words[i][0], words[min(i + most, len(words)) - 1][1], min(most, len(words) - i))
            for i in range(0, len(words), most)]


# ---------------------------------------------------------------------------------------------------
# BM25.

def terms(text: str) -> list[str]:
    """Lowercased word terms without common English stop words; a plural's "s" is dropped.

    >>> terms("The cats' bowls are EMPTY")
    ['cat', 'bowl', 'empty']
    """
    out = []
    for word in _TERM.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        out.append(word)
    return out


class BM25:
    """Okapi BM25 over documents given as term lists.

    >>> bm25 = BM25([["cat", "purr"], ["dog", "bark"], ["cat", "sleep"]])
    >>> bm25.ranking(["purr"])
    [(0, 1.0)]
    """

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.lengths = [len(d) for d in documents]
        self.average = (sum(self.lengths) / len(documents)) if documents and sum(self.lengths) else 1.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for doc, words in enumerate(documents):
            counts: dict[str, int] = {}
            for word in words:
                counts[word] = counts.get(word, 0) + 1
            for word, count in counts.items():
                self.postings.setdefault(word, []).append((doc, count))
        total = len(documents)
        self.idf = {w: math.log(1 + (total - len(p) + 0.5) / (len(p) + 0.5)) for w, p in self.postings.items()}

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        out: dict[int, float] = {}
        for word in set(query):
            idf = self.idf.get(word)
            if idf is None:
                continue
            for doc, count in self.postings[word]:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[doc] / self.average)
                out[doc] = out.get(doc, 0.0) + idf * count * (self.k1 + 1) / (count + norm)
        return out

    def ranking(self, query: Sequence[str]) -> list[tuple[int, float]]:
        """(document, score) for the documents that share a term with the query, best first, scores
        divided by the best (so the top one is 1.0)."""
        scores = sorted(self.scores(query).items(), key=lambda item: (-item[1], item[0]))
        top = scores[0][1] if scores else 1.0
        return [(doc, round(score / top, 6)) for doc, score in scores]


# ---------------------------------------------------------------------------------------------------
# Fusion.

def fuse_ranks(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each item scores the sum of 1/(k + rank) over the rankings it is in.

    >>> fuse_ranks([[3, 1, 2], [1, 3]])
    [(1, 0.032522), (3, 0.032522), (2, 0.015873)]
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(((item, round(score, 6)) for item, score in scores.items()), key=lambda x: (-x[1], x[0]))


# ---------------------------------------------------------------------------------------------------
# The index of one text.

@dataclass
class PassageIndex:
    """The passages of one text, and their embedding vectors once ``set_vectors`` has been called.

    ``key`` and ``name`` say what the index belongs to (an attachment's id and file name) in hits and
    citations."""

    text: str
    passages: list[Passage]
    pages: list[int] | None = None
    vectors: list[list[float]] | None = None
    model: str | None = None        # the embedding model the vectors came from
    key: str = ""
    name: str = ""
    _terms: list[list[str]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, text: str, pages: Sequence[int] | None = None, *, key: str = "", name: str = "",
              target_words: int = TARGET_WORDS, max_words: int = MAX_WORDS) -> "PassageIndex":
        pages = list(pages) if pages else None
        return cls(text, split_passages(text, pages, target_words=target_words, max_words=max_words), pages,
                   key=key, name=name)

    def passage_text(self, passage: Passage) -> str:
        return self.text[passage.start:passage.end]

    def texts(self) -> list[str]:
        """Every passage's text, in order: what to embed."""
        return [self.passage_text(p) for p in self.passages]

    def page_of(self, offset: int) -> int | None:
        """The 1-based page that holds character ``offset`` (None for a text without pages)."""
        return bisect.bisect_right(self.pages, offset) if self.pages else None

    def set_vectors(self, vectors: Sequence[Sequence[float]], model: str) -> None:
        """Keep one embedding vector per passage, normalized (cosine similarity is then a dot product)."""
        vectors = [list(map(float, v)) for v in vectors]
        if len(vectors) != len(self.passages):
            raise InputError(f"Got {len(vectors)} vectors for {len(self.passages)} passages.")
        if vectors and len({len(v) for v in vectors}) != 1:
            raise InputError("The embedding vectors do not all have the same length.")
        self.vectors, self.model = [_normalized(v) for v in vectors], model

    @property
    def embedded(self) -> bool:
        return self.vectors is not None

    def passage_terms(self) -> list[list[str]]:
        if self._terms is None:
            self._terms = [terms(t) for t in self.texts()]
        return self._terms

    def to_dict(self) -> dict:
        """The saved form: passage [start, end, page] triples and, once embedded, the model and the vectors
        as base64 float32 (``dims`` per passage). The text is not repeated: it is the attachment's."""
        data = {"version": INDEX_VERSION, "passages": [p.to_list() for p in self.passages]}
        if self.vectors is not None:
            flat = array("f", (x for v in self.vectors for x in v))
            data.update(model=self.model, dims=len(self.vectors[0]) if self.vectors else 0,
                        vectors=base64.b64encode(flat.tobytes() if _little_endian() else _swapped(flat)).decode())
        return data

    @classmethod
    def from_dict(cls, text: str, data: dict, pages: Sequence[int] | None = None, *, key: str = "",
                  name: str = "") -> "PassageIndex":
        """An index from its saved form and the text it indexes; a damaged form raises InputError."""
        if not isinstance(data, dict) or not isinstance(data.get("passages"), list):
            raise InputError("A passage index must be an object with a 'passages' list.")
        if data.get("version", INDEX_VERSION) != INDEX_VERSION:
            raise InputError(f"Unknown passage index version {data.get('version')!r}: expected {INDEX_VERSION}.")
        passages = []
        for number, item in enumerate(data["passages"], 1):
            try:
                start, end, page = item
                passage = Passage(number, int(start), int(end), None if page is None else int(page))
            except (TypeError, ValueError):
                raise InputError(f"Passage {number} of the index is not [start, end, page].") from None
            if not 0 <= passage.start <= passage.end <= len(text):
                raise InputError(f"Passage {number} of the index lies outside its text.")
            passages.append(passage)
        index = cls(text, passages, list(pages) if pages else None, key=key, name=name)
        if data.get("vectors"):
            flat = array("f")
            flat.frombytes(base64.b64decode(data["vectors"]))
            if not _little_endian():
                flat.byteswap()
            dims = int(data.get("dims") or 0)
            if dims <= 0 or len(flat) != dims * len(passages):
                raise InputError("The index's vectors do not match its passages.")
            index.vectors = [list(flat[i * dims:(i + 1) * dims]) for i in range(len(passages))]
            index.model = data.get("model")
        return index


def embed_index(index: PassageIndex, embed: Embed, model: str, batch: int = 32) -> PassageIndex:
    """Embed every passage of ``index`` with ``embed`` (``batch`` texts per call)."""
    texts = index.texts()
    vectors: list = []
    for start in range(0, len(texts), batch):
        vectors += list(embed(texts[start:start + batch]))
    index.set_vectors(vectors, model)
    return index


def _normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _little_endian() -> bool:
    import sys

    return sys.byteorder == "little"


def _swapped(values: array) -> bytes:
    copy = array(values.typecode, values)
    copy.byteswap()
    return copy.tobytes()


# ---------------------------------------------------------------------------------------------------
# Searching several indexes at once (every attachment of a chat).

def search(indexes: Sequence[PassageIndex], query: str, k: int = 8, *, query_vector: Sequence[float] | None = None,
           method: str = "hybrid", model: str | None = None) -> list[Hit]:
    """The ``k`` passages of ``indexes`` that best answer ``query``.

    ``method``: "bm25", "embedding", or "hybrid" (reciprocal-rank fusion of both; BM25 alone when there is
    no ``query_vector`` or no index is embedded). Only indexes embedded by ``model`` (when given) take
    part in the embedding ranking. BM25 is computed over all the indexes' passages together, so its scores
    compare across attachments."""
    if method not in ("bm25", "embedding", "hybrid"):
        raise InputError(f"Unknown retrieval method {method!r}: use bm25, embedding or hybrid.")
    pool = [(index, passage) for index in indexes for passage in index.passages]
    if not pool or k <= 0:
        return []
    rankings: dict[str, list[int]] = {}
    if method in ("bm25", "hybrid"):
        bm25 = BM25([words for index in indexes for words in index.passage_terms()])
        # Only passages close to BM25's best take part: the long tail shares one common word with the
        # question, and in the fusion it would push the embeddings' finds down (bench/retrieval.py).
        rankings["bm25"] = [doc for doc, score in bm25.ranking(terms(query)) if score >= BM25_FLOOR]
    if method in ("embedding", "hybrid") and query_vector is not None:
        rankings["embedding"] = _cosine_ranking(indexes, _normalized(list(map(float, query_vector))), model)
    elif method == "embedding":
        raise InputError("Embedding retrieval needs the question's vector (query_vector).")
    fused = fuse_ranks(list(rankings.values()))
    found = {name: set(ranking) for name, ranking in rankings.items()}
    return [Hit(pool[doc][0], pool[doc][1], score, tuple(name for name in rankings if doc in found[name]))
            for doc, score in fused[:k]]


def _cosine_ranking(indexes: Sequence[PassageIndex], query: list[float], model: str | None) -> list[int]:
    scored, offset = [], 0
    for index in indexes:
        usable = index.vectors is not None and (model is None or index.model == model)
        if usable:
            if index.vectors and len(index.vectors[0]) != len(query):
                raise InputError(f"The question's vector has {len(query)} dimensions, the index's "
                                 f"{len(index.vectors[0])}: they come from different models.")
            scored += [(offset + i, sum(a * b for a, b in zip(v, query))) for i, v in enumerate(index.vectors)]
        offset += len(index.passages)
    return [doc for doc, _ in sorted(scored, key=lambda item: (-item[1], item[0]))]
