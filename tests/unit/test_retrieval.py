"""Passages, BM25, rank fusion, and the passage index's saved form."""

from __future__ import annotations

import pytest

from pagellm.errors import InputError
from pagellm.retrieval import BM25, PassageIndex, embed_index, fuse_ranks, search, split_passages, terms


def test_passages_cover_the_words_and_respect_pages_and_sizes():
    text = "\n\n".join(" ".join(f"w{p}_{i}" for i in range(50)) for p in range(6))  # six paragraphs of 50 words
    pages = [0, text.index("w3_0")]
    passages = split_passages(text, pages, target_words=80, max_words=120)
    words = [w for p in passages for w in text[p.start:p.end].split()]
    assert words == text.split()                                   # nothing lost, nothing twice
    assert all(len(text[p.start:p.end].split()) <= 120 for p in passages)
    assert {p.page for p in passages if p.start >= pages[1]} == {2}  # none crosses the page boundary
    assert [p.number for p in passages] == list(range(1, len(passages) + 1))


def test_a_long_paragraph_is_cut_at_sentences_then_words():
    sentences = " ".join(f"Sentence {i} has five words." for i in range(40))
    passages = split_passages(sentences, target_words=20, max_words=30)
    assert all(sentences[p.start:p.end].endswith(".") for p in passages)
    run_on = " ".join(["word"] * 95)
    assert [len(run_on[p.start:p.end].split()) for p in split_passages(run_on, target_words=30, max_words=40)] == [40, 40, 15]


def test_bad_sizes_are_refused():
    with pytest.raises(InputError):
        split_passages("x", target_words=10, max_words=5)


def test_terms_and_bm25_prefer_rare_terms_and_short_documents():
    assert terms("What is the Boiling point of WATER?") == ["boiling", "point", "water"]
    bm25 = BM25([terms("water water everywhere"), terms("the boiling point of water is 100 degrees"),
                 terms("boiling point"), terms("unrelated text about cats")])
    ranking = bm25.ranking(terms("boiling point of water"))
    assert ranking[0][0] == 1 and ranking[0][1] == 1.0 and 3 not in [doc for doc, _ in ranking]


def test_reciprocal_rank_fusion():
    assert [item for item, _ in fuse_ranks([["a", "b", "c"], ["c", "b", "a"]])] == ["a", "c", "b"]  # ties broken by name
    assert fuse_ranks([]) == []


def _fake_embed(texts):
    """Two-dimensional 'embeddings': how much a text is about trains versus bread."""
    return [[t.lower().count("rail") + t.lower().count("train") + 0.01, t.lower().count("bread") + 0.01] for t in texts]


def test_hybrid_search_fuses_bm25_and_embeddings_across_indexes():
    first = PassageIndex.build("Rail timetables change in May.\n\nBread rises with yeast.", target_words=3, key="a", name="a.txt")
    second = PassageIndex.build("The train to Lyon leaves at 9:40.", target_words=3, key="b", name="b.txt")
    for index in (first, second):
        embed_index(index, _fake_embed, "fake")
    query = "When does the train leave?"
    vector = _fake_embed([query])[0]
    by_bm25 = search([first, second], query, k=3, method="bm25")
    assert [h.index.key for h in by_bm25] == ["b"]                      # only one passage shares a term
    by_both = search([first, second], query, k=3, query_vector=vector)
    assert by_both[0].index.key == "b" and by_both[0].methods == ("bm25", "embedding")
    assert {h.index.key for h in by_both[1:]} == {"a"}                  # embeddings find the rest
    assert search([first], query, method="embedding", query_vector=vector, model="other") == []
    with pytest.raises(InputError, match="query_vector"):
        search([first], query, method="embedding")
    with pytest.raises(InputError, match="different models"):
        search([first], query, query_vector=[1.0, 0.0, 0.0])


def test_index_round_trip_keeps_passages_and_vectors():
    text = "One two three.\n\nFour five six.\n\nSeven."
    index = PassageIndex.build(text, [0, text.index("Four")], target_words=2, key="k", name="n")
    embed_index(index, lambda texts: [[float(len(t)), 1.0, -2.0] for t in texts], "m")
    again = PassageIndex.from_dict(text, index.to_dict(), index.pages, key="k", name="n")
    assert again.passages == index.passages and again.model == "m"
    assert all(abs(a - b) < 1e-6 for va, vb in zip(again.vectors, index.vectors) for a, b in zip(va, vb))
    with pytest.raises(InputError, match="vectors do not match"):
        PassageIndex.from_dict(text, {**index.to_dict(), "dims": 4})
    with pytest.raises(InputError, match="version"):
        PassageIndex.from_dict(text, {**index.to_dict(), "version": 9})
    with pytest.raises(InputError, match="Got 1 vectors"):
        index.set_vectors([[1.0]], "m")
