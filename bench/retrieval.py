#!/usr/bin/env python3
"""Retrieval bench: recall@k of the passage holding the answer (BM25 alone, embeddings alone, both), the
embedding model's throughput on CPython (onnxruntime), and PDF extraction with pypdf (speed, two-column
reading order, time from bytes to "ready to ask" for a 50-page PDF).

    .venv/bin/python bench/retrieval.py            # writes bench/results/retrieval.md

The documents are generated here (fixed seed): filler paragraphs about meetings, budgets and
schedules, with one fact per question placed among them; each question asks for a fact in other words
than the text uses, as a user would. Needs the embedding model: python -m models.embedder.
"""

from __future__ import annotations

import io
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pysrc"))

from pagellm.attachments import Attachment  # noqa: E402
from pagellm.embeddings import OnnxEmbedder  # noqa: E402
from pagellm.retrieval import embed_index, search  # noqa: E402
from tests.pdf_maker import columns_page, make_pdf  # noqa: E402

EMBEDDER = ROOT / "models" / "build" / "all-minilm-l6-v2"
OUT = ROOT / "bench" / "results" / "retrieval.md"

# (fact as the document states it, question as a user asks it, a phrase only the fact holds)
FACTS = [
    ("The spare key to the archive room is kept in a blue tin under the stairs.", "Where can I find the extra key for the archive?", "blue tin"),
    ("Our office dog, a beagle named Pepper, must be walked before nine each morning.", "What breed is the office pet?", "beagle"),
    ("The boiler in building C was replaced in March after it failed the safety inspection.", "Why did the heating unit in block C get swapped out?", "safety inspection"),
    ("Parking permits cost forty euros per month and are sold at the front desk.", "How much do I pay to leave my car here monthly?", "forty euros"),
    ("The Wi-Fi password for guests is printed on the back of the visitor badge.", "How do visitors get onto the wireless network?", "visitor badge"),
    ("Quarterly revenue rose to 12.4 million, mostly from the new subscription plan.", "What drove the increase in income last quarter?", "subscription plan"),
    ("Fire drills happen on the first Tuesday of every other month at 11 o'clock.", "When do we practise evacuating the building?", "first Tuesday"),
    ("The cafeteria switched its coffee supplier to a cooperative from Honduras.", "Where does the canteen's coffee come from now?", "Honduras"),
    ("Expense reports above 500 euros need the signature of a department head.", "Who must approve large reimbursement claims?", "department head"),
    ("The server room is cooled to 19 degrees and humidity is kept below 45 percent.", "What temperature is the data centre held at?", "19 degrees"),
    ("New employees receive a laptop, a phone and a printed handbook on their first day.", "What equipment do newcomers get when they start?", "printed handbook"),
    ("The rooftop garden grows tomatoes, basil and strawberries tended by volunteers.", "Which plants are cultivated on the roof?", "strawberries"),
    ("Lost property is held at reception for thirty days and then donated to charity.", "What happens to forgotten items after a month?", "donated to charity"),
    ("The annual retreat will take place in a lakeside hotel near Annecy in June.", "Where is this year's company getaway?", "Annecy"),
    ("Printer cartridges are ordered through the procurement portal, never by email.", "How should I request new ink for the printers?", "procurement portal"),
    ("Bicycles may be stored in the basement rack, which opens with the staff card.", "Where can I leave my bike?", "basement rack"),
    ("The company library lends books for three weeks and charges no late fees.", "How long can I borrow a book for?", "three weeks"),
    ("Solar panels installed last year now supply about a fifth of the building's power.", "What share of our electricity comes from the sun?", "a fifth"),
    ("Meeting room Atlas seats twenty people and has a video conferencing system.", "Which conference room fits a group of twenty?", "Atlas"),
    ("The night guard makes rounds every two hours and logs each check in a tablet.", "How often does security patrol after dark?", "every two hours"),
]
FILLER = [
    "The committee reviewed routine matters and agreed to revisit them at the next meeting.",
    "Several members raised questions about the timetable, which were answered in writing.",
    "Budgets for the coming season were discussed without any change to the approved figures.",
    "The minutes of the previous session were read and accepted with minor corrections.",
    "Attendance was recorded, and apologies were noted from two members who were travelling.",
    "A short presentation summarised progress on ongoing projects and their milestones.",
    "The chair thanked the volunteers for their work during the spring open day.",
    "It was agreed that the newsletter would be sent out at the end of each month.",
    "Catering arrangements for the autumn events will follow last year's model.",
    "Members were reminded to update their contact details in the shared directory.",
]


def documents(seed: int = 7) -> tuple[list[str], list[tuple[str, int, str]]]:
    """Three documents of about 60 paragraphs; the facts spread over them at random places."""
    rng = random.Random(seed)
    docs = [[" ".join(rng.sample(FILLER, 4)) for _ in range(60)] for _ in range(3)]
    placed = []
    for fact, question, phrase in FACTS:
        doc = rng.randrange(3)
        paragraph = rng.randrange(60)
        docs[doc][paragraph] = docs[doc][paragraph].split(". ")[0] + ". " + fact
        placed.append((question, doc, phrase))
    return ["\n\n".join(d) for d in docs], placed


def recall(attachments, questions, method, embed, ks=(1, 3, 5)) -> dict[int, float]:
    hits = {k: 0 for k in ks}
    for question, doc, phrase in questions:
        vector = embed([question])[0] if method != "bm25" else None
        found = search([a.index for a in attachments], question, max(ks), query_vector=vector, method=method)
        for k in ks:
            if any(h.index.key == attachments[doc].id and phrase in h.text for h in found[:k]):
                hits[k] += 1
    return {k: hits[k] / len(questions) for k in ks}


def pdf_bench(embed) -> list[str]:
    rng = random.Random(3)
    lines = lambda n: [" ".join(rng.sample(FILLER, 1))[:48] for _ in range(n)]
    pages = [columns_page(lines(50), lines(50)) for _ in range(50)]
    pdf = make_pdf(pages)
    started = time.perf_counter()
    attachment = Attachment.from_bytes("fifty.pdf", pdf)
    extracted = time.perf_counter() - started
    passages = attachment.index.passages
    split = time.perf_counter() - started - extracted
    embed_index(attachment.index, embed, embed.model)
    ready = time.perf_counter() - started
    left, right = [f"Left line {i}." for i in range(8)], [f"Right line {i}." for i in range(8)]
    in_columns = Attachment.from_bytes("c.pdf", make_pdf([columns_page(left, right, "columns")])).text
    in_rows = Attachment.from_bytes("r.pdf", make_pdf([columns_page(left, right, "rows")])).text
    return [
        f"- 50-page two-column PDF ({len(pdf) / 1e6:.2f} MB, {len(attachment.text):,} characters): pypdf text "
        f"{extracted:.2f} s ({extracted / 50 * 1000:.0f} ms a page), split into {len(passages)} passages "
        f"{split * 1000:.0f} ms, embedded {ready - extracted - split:.2f} s: **ready to ask {ready:.2f} s** (CPython).",
        f"- Two columns drawn column by column (what word processors write): "
        f"{'each column read whole, left then right' if in_columns.index('Left line 7') < in_columns.index('Right line 0') else 'columns mixed'}.",
        f"- Two columns drawn row by row (some typesetters): pypdf's plain mode reads "
        f"{'line by line across both columns (' + repr(in_rows.splitlines()[0]) + ')' if 'Right line 0' in in_rows.splitlines()[0] else 'each column whole'}.",
    ]


def main() -> int:
    if not EMBEDDER.is_dir():
        print("Build the embedding model first: python -m models.embedder", file=sys.stderr)
        return 1
    embed = OnnxEmbedder(EMBEDDER, threads=1)
    texts, questions = documents()
    attachments = [Attachment.from_bytes(f"minutes-{i + 1}.txt", t.encode()) for i, t in enumerate(texts)]
    all_passages = [t for a in attachments for t in a.index.texts()]
    started = time.perf_counter()
    for a in attachments:
        embed_index(a.index, embed, embed.model)
    seconds = time.perf_counter() - started
    rows = {method: recall(attachments, questions, method, embed) for method in ("bm25", "embedding", "hybrid")}
    lines = [
        "# Retrieval over attachments", "",
        "Command: `.venv/bin/python bench/retrieval.py` (CPython 3.11, onnxruntime 1.32, 1 thread, pypdf 7.1.0; "
        "a shared 2-core machine: timings are noisy).", "",
        f"{len(questions)} questions over 3 generated documents ({len(all_passages)} passages of at most 180 words); "
        "each question asks for one fact in other words than the text's. Hit: the passage holding the fact's key "
        "phrase is among the first k.", "",
        "| method | recall@1 | recall@3 | recall@5 |", "| --- | --- | --- | --- |",
        *(f"| {name} | {r[1]:.2f} | {r[3]:.2f} | {r[5]:.2f} |" for name, r in
          (("BM25 alone", rows["bm25"]), ("embeddings alone (all-MiniLM-L6-v2 int8)", rows["embedding"]),
           ("both (reciprocal-rank fusion)", rows["hybrid"]))), "",
        "## Embedding throughput", "",
        f"- {len(all_passages)} passages in {seconds:.2f} s: **{len(all_passages) / seconds:.0f} passages/s** "
        "(onnxruntime on CPython, int8 file, batches of 32).", "",
        "## PDF text with pypdf", "", *pdf_bench(embed), "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
