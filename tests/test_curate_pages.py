"""Page mode without a browser: what a page proposes, how a page is stored and undone, what the
review ranks first, and how the benchmark's simulated person counts actions."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from nonesuch.curate.clusters import ClusterConfig
from nonesuch.curate.labels import LabelStore
from nonesuch.curate.pages import PageConfig, PageStrategy, prior_corrected
from nonesuch.curate.query import QueryConfig, QueryStrategy
from nonesuch.curate.review import disagreement_order, neighbour_disagreement, share_ranked_below

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def two_blobs(n: int = 120, keeps: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """[n, 32] features of two well-separated groups, the first `keeps` the target."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) < keeps).astype(np.int64)
    centres = rng.normal(size=(2, 32)) * 3
    return (centres[1 - y] + rng.normal(size=(n, 32))).astype(np.float32), y


def test_prior_correction_proposes_the_likelier_answer_for_a_rare_target():
    p = np.array([0.5, 0.9, 0.95, 0.1], np.float32)
    labelled = {0: "keep"} | {i: "discard" for i in range(1, 10)}        # 1 keep in 10
    corrected = prior_corrected(p, labelled)
    np.testing.assert_allclose(corrected, [0.1, 0.5, 0.95 / (0.95 + 0.05 * 9), 0.1 / (0.1 + 0.9 * 9)], rtol=1e-5)
    assert prior_corrected(p, {0: "discard"}) is p                       # one class only: nothing to correct


def test_pages_before_and_after_a_classifier():
    features, y = two_blobs()
    strategy = PageStrategy(QueryStrategy(features, QueryConfig(ClusterConfig(k=4), fine_clusters=8)),
                            PageConfig(size=10))
    first = strategy.next({}, None)
    assert first.kind == "explore" and len(first.items) == 10
    assert {i.proposed for i in first.items} == {"discard"} and all(i.probability is None for i in first.items)
    labelled = {i.idx: "keep" if y[i.idx] else "discard" for i in first.items}

    probability = np.linspace(0, 1, len(y)).astype(np.float32)          # any classifier will do
    ranked = PageStrategy(strategy.queries, PageConfig(size=10, choice="ranked", prior_correction=False))
    page = ranked.next(labelled, probability, exclude={len(y) - 1})
    unseen = [i for i in range(len(y) - 2, -1, -1) if i not in labelled]
    assert [i.idx for i in page.items] == unseen[:10]                    # the highest ranked unseen images
    assert all(i.proposed == ("keep" if probability[i.idx] >= 0.5 else "discard") for i in page.items)
    uncertain = PageStrategy(strategy.queries, PageConfig(size=10, choice="uncertain")).next(labelled, probability)
    assert uncertain.kind == "uncertain" and not {i.idx for i in uncertain.items} & set(labelled)
    with pytest.raises(ValueError, match="page choice"):
        PageConfig(choice="best")


def test_a_page_is_one_undo_step_and_old_label_logs_gain_the_column(tmp_path):
    old = sqlite3.connect(tmp_path / "labels.sqlite")                    # a log written before page mode
    old.execute("CREATE TABLE labels (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, "
                "idx INTEGER NOT NULL, label TEXT NOT NULL, time REAL NOT NULL, source TEXT NOT NULL DEFAULT 'page')")
    old.execute("INSERT INTO labels (target, idx, label, time) VALUES ('t', 7, 'keep', 0)")
    old.commit()
    old.close()
    store = LabelStore(tmp_path)
    assert store.add_page("t", [(1, "keep"), (2, "discard"), (7, "discard")]) == 1
    assert store.add_page("t", [(3, "keep")]) == 2
    store.add("t", 4, "skip")
    assert store.undo("t") == [4]
    assert store.undo("t") == [3]
    assert store.undo("t") == [1, 2, 7]
    assert store.current("t") == {7: "keep"}                            # the label before the page is back
    assert store.undo("t") == [7] and store.undo("t") == []


def test_review_ranks_a_flipped_label_first():
    features, y = two_blobs()
    given = y.copy()
    given[3] = 0                                                         # a keep let through as a discard
    order = disagreement_order(features, given)
    assert order[0] == 3


def test_look_alikes_outvote_a_slip_each_answer_weighted_by_its_rarity():
    features, y = two_blobs(120, 20)
    given = y.copy()
    given[3] = 0                                                         # a keep among keeps, labelled discard
    score = neighbour_disagreement(features, given, 10)
    assert int(np.argmax(score)) == 3 and score[3] > 0.9
    assert np.all(score[given == y][y[given == y] == 0] < 0.1)           # discards among discards: undisputed
    # all ten equally alike, 2 keeps: each keep weighs 1 / 0.2, each discard 1 / 0.8, so a
    # discard's 2 keep neighbours (10) outweigh its 7 discard ones (8.75)
    keep = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    alike = neighbour_disagreement(np.eye(10, dtype=np.float32) + 1.0, keep, 9)
    np.testing.assert_allclose(alike[2], 10 / 18.75, rtol=1e-5)


def test_ranks_are_shares_of_the_others_below_and_ties_share_one():
    np.testing.assert_allclose(share_ranked_below(np.array([0.3, 0.1, 0.3, 0.9])), [0.25, 0.0, 0.25, 0.75])


def test_the_simulated_person_pays_a_confirm_per_page_and_a_flip_per_wrong_proposal():
    from bench_curate import run_pages

    features, y = two_blobs(200, 30)
    pool, test = np.arange(0, 200, 2), np.arange(1, 200, 2)
    x_all = np.concatenate([features[pool], features[test]])
    neighbours = np.arange(200)[:, None]                                # no smoothing: each its own neighbour
    queries = QueryStrategy(features[pool], QueryConfig(ClusterConfig(k=4), fine_clusters=8))
    strategy = PageStrategy(queries, PageConfig(size=10))

    exact = run_pages(strategy, x_all, y[pool], y[test], neighbours, seed=0, miss=0.0, max_actions=8)
    assert all(exact.snapshot[i] == y[pool][i] for i in exact.snapshot)  # every needed flip made
    first_page_keeps = sum(y[pool][q.idx] for q in queries.next({}, None, 10))
    assert min(a for a in exact.curve if a > 0) == 1 + first_page_keeps  # confirm + one flip per keep
    assert exact.wrong_found_by_review == (0, 0)

    careless = run_pages(strategy, x_all, y[pool], y[test], neighbours, seed=0, miss=1.0, max_actions=3)
    assert sorted(careless.curve) == [0, 1, 2, 3]                       # no flip ever: a page is one action
    assert careless.labels[3] == 30


def test_a_nearly_uniform_cluster_is_proposed_whole_its_doubtful_members_shown():
    features, y = two_blobs()
    queries = QueryStrategy(features, QueryConfig(ClusterConfig(k=4), fine_clusters=8))
    probability = np.where(y == 1, 0.9, 0.1).astype(np.float32)
    labelled = {0: "keep", 50: "discard"}
    strategy = PageStrategy(queries, PageConfig(size=10, choice="clusters"))
    members = np.flatnonzero(queries.clusters.assignment == strategy.next(labelled, probability).cluster)
    doubtful = int(next(i for i in members if i not in labelled))       # the classifier doubts one member most
    probability[doubtful] = 0.45 if y[doubtful] == 0 else 0.55               # on its side of 0.5, nearest it
    page = strategy.next(labelled, probability)
    assert page.kind == "cluster" and len(page.items) == 10
    answer = page.items[0].proposed
    assert {item.proposed for item in page.items} == {answer}
    assert set(y[members]) == {int(answer == "keep")}                   # the blobs are apart: clusters are pure
    shown = [item.idx for item in page.items]
    assert shown[0] == doubtful and not set(shown) & set(page.unseen)
    assert set(shown) | set(page.unseen) == set(members.tolist()) - set(labelled)
    picky = PageStrategy(queries, PageConfig(size=10, choice="clusters", cluster_uniformity=1.01))
    assert picky.next(labelled, probability).kind == "uncertain"        # no cluster uniform enough: a plain page
    with pytest.raises(ValueError, match="cluster"):
        PageConfig(cluster_level="finest")


def test_the_simulated_person_gives_a_whole_clusters_answer_to_its_unseen_members_right_or_not():
    from bench_curate import run_pages

    features, y = two_blobs(400, 40)
    pool, test = np.arange(0, 400, 2), np.arange(1, 400, 2)
    x_all = np.concatenate([features[pool], features[test]])
    neighbours = np.arange(400)[:, None]
    queries = QueryStrategy(features[pool], QueryConfig(ClusterConfig(k=4), fine_clusters=8))
    first_page = {q.idx for q in queries.next({}, None, 10)}
    y_pool = y[pool].copy()
    discards = [i for i in np.flatnonzero(y_pool == 0) if i not in first_page]
    keep_centre = features[pool][y_pool == 1].mean(axis=0)
    hidden = max(discards, key=lambda i: np.linalg.norm(features[pool][i] - keep_centre))
    y_pool[hidden] = 1                                                  # a keep the classifier is surest is a discard
    run = run_pages(PageStrategy(queries, PageConfig(size=10, choice="clusters")), x_all, y_pool, y[test],
                    neighbours, seed=0, miss=0.0, max_actions=6)
    assert run.labels[max(run.labels)] > 10 * max(run.labels)           # far more labels than actions
    assert run.snapshot[hidden] == 0                                    # labelled unseen with its cluster's answer
    wrong = sum(run.snapshot[i] != y_pool[i] for i in run.snapshot)
    assert run.wrong_found_by_review[1] == wrong >= 1
