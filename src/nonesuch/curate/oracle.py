"""Answer the labeling page's questions from labels the dataset already has, instead of a person.

With a folder-labelled dataset (ingest records each image's folder name) this reproduces a cut
"made with N labels" (or "with N actions" in page mode) exactly, without anyone at the keyboard:
the strategy asks for images exactly as the page would, and only the asked-for images get their
label revealed. The benchmarks and the README's curated-vs-whole comparison rest on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nonesuch.curate.classifier import FitReport
from nonesuch.curate.errors import CurateError
from nonesuch.curate.session import CurationSession


@dataclass(frozen=True)
class PagesReport:
    actions: int          # page confirms + flips: what a person would have pressed or clicked
    pages: int
    flips: int
    labels: int           # images the confirmed pages labelled
    fit: FitReport


def _truth(session: CurationSession, keep_label: str) -> list[str]:
    truth = session.dataset.labels()
    if keep_label not in set(truth):
        names = ", ".join(sorted({t for t in truth if t}))
        raise CurateError(f"{session.dataset.root}: no image is labelled {keep_label!r} (labels: {names})")
    return truth


def label_from_dataset_labels(session: CurationSession, keep_label: str, budget: int, batch: int = 5) -> FitReport:
    """Label `budget` images the strategy asks for: keep where the dataset label is keep_label."""
    truth = _truth(session, keep_label)

    def answered() -> int:
        return sum(1 for label in session.store.current(session.target).values() if label != "skip")

    while answered() < budget:
        queries = session.next_queries(min(batch, budget - answered()))
        if not queries:
            break
        for q in queries:
            session.label(q.idx, "keep" if truth[q.idx] == keep_label else "discard")
    return session.report()


def label_pages_from_dataset_labels(session: CurationSession, keep_label: str, actions: int) -> PagesReport:
    """Confirm the pages the page strategy proposes, as a person who flips every wrong proposal,
    until the next page would take the actions past `actions` (a page is all or nothing: its
    flips are known before it is confirmed). One action a page plus one a flip, as the benchmark
    counts them; a person who misses flips is simulated by benchmarks/bench_curate.py, not here."""
    truth = _truth(session, keep_label)
    spent = pages = flips = labels = 0
    while True:
        page = session.next_page()
        if not page.items:
            break
        answers = [(item.idx, "keep" if truth[item.idx] == keep_label else "discard") for item in page.items]
        page_flips = sum(item.proposed != answer for item, (_, answer) in zip(page.items, answers))
        if spent + 1 + page_flips > actions:
            break
        session.label_page(answers, source="oracle")
        spent, pages, flips, labels = spent + 1 + page_flips, pages + 1, flips + page_flips, labels + len(answers)
    return PagesReport(spent, pages, flips, labels, session.report())
