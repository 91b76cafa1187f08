"""Curation on 48 real emoji in 4 groups: embeddings, queries, labels, classifier, subsets, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from curate_fixtures import copy_dataset, embedded_dataset, group_labels  # noqa: F401 (fixture)
from nonesuch.cli import app
from nonesuch.curate import embed as embed_module
from nonesuch.curate.classifier import cross_validate, standardise
from nonesuch.curate.clusters import ClusterConfig
from nonesuch.curate.embed import EmbedConfig, embed_dataset, load_embeddings
from nonesuch.curate.errors import CurateError
from nonesuch.curate.labels import LabelStore
from nonesuch.curate.query import QueryConfig, QueryStrategy
from nonesuch.curate.session import CurationSession
from nonesuch.curate.subset import apply_classifier
from nonesuch.data import Dataset

SMILEYS = "smileys-emotion"


def test_embeddings_are_cached_in_the_dataset(embedded_dataset):
    embeddings = load_embeddings(embedded_dataset)
    assert embeddings.features.shape == (48, 1280) and embeddings.logits.shape == (48, 1000)
    assert np.isfinite(embeddings.features).all()
    info = json.loads((embedded_dataset.root / "embeddings" / "effnet-lite0.json").read_text())
    assert info["count"] == 48 and info["source_resolution"] == 32
    # A second run finds them and does no work.
    again = embed_dataset(embedded_dataset, advance=lambda n: pytest.fail("re-embedded a cached dataset"))
    np.testing.assert_array_equal(again.features, embeddings.features)


def test_missing_embeddings_name_the_command(emoji_dataset, tmp_path):
    dataset = copy_dataset(emoji_dataset, tmp_path / "ds")
    with pytest.raises(CurateError, match="curate embed"):
        load_embeddings(dataset)


def test_interrupted_embedding_resumes_from_its_chunks(embedded_dataset, tmp_path, monkeypatch):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds")
    config = EmbedConfig(chunk_size=16)

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_dataset(dataset, config, advance=interrupt)     # stops after the first chunk is saved
    chunks = sorted((dataset.root / "embeddings" / "effnet-lite0.chunks").glob("*.npz"))
    assert [c.name for c in chunks] == ["000000000-000000016.npz"]
    with pytest.raises(CurateError):
        load_embeddings(dataset)                              # half an embedding is not an embedding

    embedded = []
    real_run_chunk = embed_module._run_chunk
    monkeypatch.setattr(embed_module, "_run_chunk",
                        lambda s, images, c, pool: embedded.append(len(images)) or real_run_chunk(s, images, c, pool))
    resumed = embed_dataset(dataset, config)
    assert embedded == [16, 16]                               # only the two missing chunks
    np.testing.assert_allclose(resumed.features, load_embeddings(embedded_dataset).features, atol=1e-4)
    assert not (dataset.root / "embeddings" / "effnet-lite0.chunks").exists()


def test_features_separate_the_emoji_groups(embedded_dataset):
    """ImageNet features must carry the group: nearest neighbours mostly share it."""
    x = standardise(load_embeddings(embedded_dataset).features)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    similarity = x @ x.T
    np.fill_diagonal(similarity, -np.inf)
    groups = np.array(embedded_dataset.labels())
    agreement = (groups[similarity.argmax(axis=1)] == groups).mean()
    assert agreement > 0.6, agreement                        # chance is 0.25


def test_first_queries_are_the_typical_image_of_every_cluster(embedded_dataset):
    strategy = QueryStrategy(load_embeddings(embedded_dataset).features, QueryConfig(ClusterConfig(k=6)))
    clusters = strategy.clusters
    first = strategy.next({}, None, n=6)
    assert [q.reason for q in first] == ["typical"] * 6
    assert sorted(clusters.assignment[[q.idx for q in first]].tolist()) == list(range(6))
    for q in first:
        members = np.flatnonzero(clusters.assignment == clusters.assignment[q.idx])
        assert clusters.typicality[q.idx] == clusters.typicality[members].max()


def test_exploration_mixes_far_typical_images_with_random_ones(embedded_dataset):
    """After a coarse round of nothing but discards: 2 in 5 at random, the rest fine-cluster
    typicals, the one farthest from everything labelled or picked first; reproducible."""
    strategy = QueryStrategy(load_embeddings(embedded_dataset).features, QueryConfig(ClusterConfig(k=4), fine_clusters=12))
    labelled = {q.idx: "discard" for q in strategy.next({}, None, n=4)}
    batch = strategy.next(labelled, None, n=5)
    assert sorted(q.reason for q in batch) == ["random", "random", "typical", "typical", "typical"]
    assert not {q.idx for q in batch} & set(labelled) and len({q.idx for q in batch}) == 5
    typical = [q.idx for q in batch if q.reason == "typical"]
    assert set(typical) <= set(strategy.fine_typical.tolist())
    before = list(labelled) + [q.idx for q in batch if q.reason == "random"]
    candidates = [int(i) for i in strategy.fine_typical if i not in before]
    gaps = [min(((strategy.reduced[c] - strategy.reduced[b]) ** 2).sum() for b in before) for c in candidates]
    assert typical[0] == candidates[int(np.argmax(gaps))]
    assert strategy.next(labelled, None, n=5) == batch


def test_queries_turn_to_uncertain_images_spread_over_clusters(embedded_dataset):
    config = QueryConfig(ClusterConfig(k=4), uncertain_pool=3)
    strategy = QueryStrategy(load_embeddings(embedded_dataset).features, config)
    oracle = group_labels(embedded_dataset, SMILEYS)
    labelled = {q.idx: oracle[q.idx] for q in strategy.next({}, None, n=8)}
    probability = np.random.default_rng(0).random(48).astype(np.float32)   # any classifier output will do
    batch = strategy.next(labelled, probability, n=4)
    assert all(q.reason == "uncertain" for q in batch)
    assert not {q.idx for q in batch} & set(labelled)
    unseen = np.array([i for i in range(48) if i not in labelled])
    pool = unseen[np.argsort(np.abs(probability[unseen] - 0.5))][: 4 * 3]   # the 12 most uncertain
    assert {q.idx for q in batch} <= set(pool.tolist())
    assigned = strategy.clusters.assignment
    assert len({assigned[q.idx] for q in batch}) == min(4, len(set(assigned[pool])))   # diverse


def test_labels_persist_across_restart_with_undo_and_targets(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds")
    store = LabelStore(dataset.root)
    store.add("smileys", 3, "keep")
    store.add("smileys", 5, "discard")
    store.add("smileys", 3, "discard")          # changed mind
    store.add("animals", 3, "keep")
    store.close()

    reopened = LabelStore(dataset.root)
    assert reopened.current("smileys") == {5: "discard", 3: "discard"}
    assert reopened.undo("smileys") == [3]
    assert reopened.current("smileys") == {3: "keep", 5: "discard"}   # the earlier label is back
    assert reopened.current("animals") == {3: "keep"}
    assert reopened.targets() == ["animals", "smileys"]
    indices, keep = reopened.training_set("smileys")
    assert dict(zip(indices.tolist(), keep.tolist())) == {3: 1, 5: 0}


def test_fit_reports_accuracy_with_the_label_count(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True)
    oracle = group_labels(dataset, SMILEYS)
    chosen = list(range(0, 48, 2))               # 24 labels, 6 of them smileys
    LabelStore(dataset.root).add_many("smileys", [(i, oracle[i]) for i in chosen], source="test")
    report = CurationSession(dataset, "smileys").report()
    assert (report.labels, report.keeps, report.discards) == (24, 6, 18)
    assert report.cv_accuracy > 0.75 and report.cv_ap > 0.5

    result = CliRunner().invoke(app, ["curate", "fit", str(dataset.root), "--target", "smileys"])
    assert result.exit_code == 0, result.output
    assert "on 24 labels (6 keep, 18 discard)" in result.output


def test_too_few_labels_to_cross_validate_say_so():
    x = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    report = cross_validate(x, np.array([1, 0, 0]))
    assert report.cv_accuracy is None and "too few" in report.summary()


def test_apply_writes_every_resolution_of_the_kept_images(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True)
    oracle = group_labels(dataset, SMILEYS)
    LabelStore(dataset.root).add_many("smileys", [(i, oracle[i]) for i in range(0, 48, 3)], source="test")
    session = CurationSession(dataset, "smileys")
    expected = session.kept(0.5)
    subset = apply_classifier(session, tmp_path / "smileys", threshold=0.5)

    assert subset.resolutions == dataset.resolutions == [4, 8, 16, 32]
    assert len(subset) == len(expected) > 0
    for r in subset.resolutions:
        np.testing.assert_array_equal(np.asarray(subset.images(r)), np.asarray(dataset.images(r))[expected])
    curation = subset.meta["curation"]
    assert subset.meta["parent"] == str(dataset.root.resolve())
    assert curation["target"] == "smileys" and curation["threshold"] == 0.5 and curation["labels"] == 16
    assert "LogisticRegression" in curation["classifier"]["kind"]
    assert curation["embedding_precision"] == "int8"          # a cut records which graph embedded it
    groups = np.array(subset.labels())
    assert (groups == SMILEYS).mean() > 0.7, groups           # the cut is mostly smileys
    for grid in ("kept", "rejected-near-threshold"):
        assert Image.open(tmp_path / "smileys" / "curation" / f"{grid}.png").size[0] >= 512
    # Human labels override the classifier: every labelled keep is in, every labelled discard out.
    members = set(expected.tolist())
    assert all((i in members) == (label == "keep") for i, label in session.store.current("smileys").items())


def test_cli_clusters_write_grids_and_a_cluster_becomes_a_subset(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True)
    runner = CliRunner()
    result = runner.invoke(app, ["curate", "clusters", str(dataset.root), "--k", "4", "--out", str(tmp_path / "grids")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "grids" / "clusters.json").read_text())
    assert sum(summary["sizes"]) == 48 and len(summary["grids"]) == 4
    assert summary["sizes"] == sorted(summary["sizes"], reverse=True)
    for name in summary["grids"]:
        assert Image.open(tmp_path / "grids" / name).size[0] >= 512

    result = runner.invoke(app, ["curate", "apply", str(dataset.root), "--cluster", "1", "--out", str(tmp_path / "c1")])
    assert result.exit_code == 0, result.output
    assert len(Dataset(tmp_path / "c1")) == summary["sizes"][1]

    result = runner.invoke(app, ["curate", "apply", str(dataset.root), "--cluster", "9", "--out", str(tmp_path / "c9")])
    assert result.exit_code == 1 and "cluster 9 does not exist" in result.output

    # --k 0 was read as "the latest clustering"; a clusters file for another image count indexed past the dataset
    result = runner.invoke(app, ["curate", "apply", str(dataset.root), "--cluster", "1", "--k", "0", "--out", str(tmp_path / "k0")])
    assert result.exit_code == 1 and "--k must be at least 1, got 0" in result.output and not (tmp_path / "k0").exists()
    saved = dataset.root / "curation" / "clusters-k4.json"
    data = json.loads(saved.read_text())
    saved.write_text(json.dumps({**data, "assignment": data["assignment"] + [1] * 5}))
    result = runner.invoke(app, ["curate", "apply", str(dataset.root), "--cluster", "1", "--out", str(tmp_path / "c5")])
    assert result.exit_code == 1 and "holds clusters of 53 images and the dataset has 48" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "c5").exists()


def test_cli_imports_labels_from_csv_and_folder(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds")
    records = dataset.records()
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("idx,label\n0,keep\n1,0\n2,skip\n")
    runner = CliRunner()
    result = runner.invoke(app, ["curate", "label", str(dataset.root), "--target", "t", "--labels-from", str(csv_path)])
    assert result.exit_code == 0, result.output
    assert LabelStore(dataset.root).current("t") == {0: "keep", 1: "discard", 2: "skip"}

    folder = tmp_path / "sorted"                 # files sorted by hand, matched back by source path
    for idx, label in ((10, "keep"), (20, "discard")):
        (folder / label).mkdir(parents=True)
        (folder / label / "a.png").symlink_to(records[idx].source)
    result = runner.invoke(app, ["curate", "label", str(dataset.root), "--target", "f", "--labels-from", str(folder)])
    assert result.exit_code == 0, result.output
    assert LabelStore(dataset.root).current("f") == {10: "keep", 20: "discard"}

    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\nx.png,keep\n")
    result = runner.invoke(app, ["curate", "label", str(dataset.root), "--target", "t", "--labels-from", str(bad)])
    assert result.exit_code == 1 and "bad.csv" in result.output


@pytest.mark.parametrize("content, message", [
    (b"idx,label\nabc,keep\n", "bad.csv:2: cannot use {'idx': 'abc', 'label': 'keep'}"),
    (b"idx,label\n3\n", "bad.csv:2: cannot use {'idx': '3', 'label': None}"),
    (b"idx,label\n3,keep\xff\n", "bad.csv: not UTF-8 text (byte 16 is 0xff)"),
    (b"source,label\na\x00b,keep\n", "bad.csv:2: cannot use"),
    (b"idx,label\n\"3,keep\n" + b"x" * 200_000 + b"\n", "bad.csv: not a CSV file (field larger than field limit"),
    (None, "bad.csv: too large: 21474836480 bytes > 268435456"),
])
def test_a_hostile_labels_csv_is_one_line_and_imports_nothing(embedded_dataset, tmp_path, content, message):
    """Each once ended in a traceback (ValueError, AttributeError, UnicodeDecodeError) or, for a
    sparse file that claims 20 GB, a MemoryError."""
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds")
    bad = tmp_path / "bad.csv"
    if content is None:
        with open(bad, "wb") as f:
            f.truncate(20 << 30)
    else:
        bad.write_bytes(content)
    result = CliRunner().invoke(app, ["curate", "label", str(dataset.root), "--target", "t", "--labels-from", str(bad)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert message in result.output, result.output
    assert LabelStore(dataset.root).current("t") == {}


@pytest.mark.parametrize("damage, words", [
    ("garbage", "file is not a database"),
    ("folder", "unable to open database file"),
    ("foreign", "its labels table lacks id, idx, label, source, target, time"),
])
def test_a_damaged_label_log_is_one_line_and_left_as_it_is(embedded_dataset, tmp_path, damage, words):
    """Each once ended in a sqlite3 traceback; the file is named, and never replaced: it may hold labels."""
    import sqlite3

    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True)
    log = dataset.root / "labels.sqlite"
    for stale in dataset.root.glob("labels.sqlite*"):
        stale.unlink()
    if damage == "garbage":
        log.write_bytes(bytes(range(256)) * 20)
    elif damage == "folder":
        log.mkdir()
    else:
        with sqlite3.connect(log) as db:
            db.execute("CREATE TABLE labels (a, b)")
    before = log.read_bytes() if log.is_file() else None
    labels = tmp_path / "labels.csv"
    labels.write_text("idx,label\n0,keep\n")
    for args in (["label", str(dataset.root), "--target", "t", "--labels-from", str(labels)],
                 ["apply", str(dataset.root), "--target", "t", "--out", str(tmp_path / "subset")]):
        result = CliRunner().invoke(app, ["curate", *args])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert f"{log}: not a nonesuch label log ({words})" in result.output, result.output
    assert (log.read_bytes() if log.is_file() else None) == before


def test_cli_oracle_labels_exactly_the_budget_the_strategy_asks_for(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True)
    runner = CliRunner()
    result = runner.invoke(app, ["curate", "label", str(dataset.root), "--target", "smileys",
                                 "--oracle", SMILEYS, "--budget", "16"])
    assert result.exit_code == 0, result.output
    assert "on 16 labels" in result.output
    labels = LabelStore(dataset.root).current("smileys")
    truth = group_labels(dataset, SMILEYS)
    assert len(labels) == 16 and all(truth[i] == label for i, label in labels.items())
    assert sum(label == "keep" for label in labels.values()) >= 2     # the strategy found the smileys

    result = runner.invoke(app, ["curate", "label", str(dataset.root), "--target", "x", "--oracle", "cats"])
    assert result.exit_code == 1 and "no image is labelled 'cats'" in result.output


def test_cli_oracle_pages_spends_at_most_the_actions_and_labels_whole_pages_truthfully(embedded_dataset, tmp_path):
    dataset = copy_dataset(embedded_dataset.root, tmp_path / "ds", embeddings=True)
    result = CliRunner().invoke(app, ["curate", "label", str(dataset.root), "--target", "smileys",
                                      "--oracle", SMILEYS, "--pages", "--budget", "6"])
    assert result.exit_code == 0, result.output
    actions, pages, flips, labels = map(int, re.search(
        r"(\d+) actions: (\d+) pages confirmed, (\d+) flips, (\d+) labels", result.output).groups())
    assert actions == pages + flips and actions <= 6 and pages >= 1
    stored = LabelStore(dataset.root).current("smileys")
    truth = group_labels(dataset, SMILEYS)
    assert len(stored) == labels and labels > actions          # a page buys more labels than it costs
    assert all(truth[i] == label for i, label in stored.items())
    result = CliRunner().invoke(app, ["curate", "label", str(dataset.root), "--target", "smileys", "--pages"])
    assert result.exit_code == 1 and "--pages" in result.output and result.output.count("\n") == 1


def test_smoothing_pulls_an_image_halfway_to_its_look_alikes():
    from nonesuch.curate.classifier import smooth_over_neighbours

    probability = np.array([0.1, 0.9, 0.9, 0.5], np.float32)
    neighbours = np.array([[1, 2], [2, 0], [1, 0], [3, 3]])   # image 0 looks like 1 and 2
    smoothed = smooth_over_neighbours(probability, neighbours)
    np.testing.assert_allclose(smoothed, [0.5, 0.7, 0.7, 0.5], atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (["label", "--target", "t", "--no-browser", "--port", "-1"], "--port must be from 1 to 65535, got -1"),
    (["label", "--target", "t", "--no-browser", "--port", "70000"], "--port must be from 1 to 65535"),
    (["label", "--target", "t", "--oracle", "g", "--budget", "0"], "--budget must be at least 1, got 0"),
    (["label", "--target", "t", "--oracle", "g", "--budget", "-1"], "--budget must be at least 1, got -1"),
    (["apply", "--target", "t", "--out", "OUT", "--threshold", "nan"], "--threshold must be from 0.0 to 1.0"),
    (["apply", "--target", "t", "--out", "OUT", "--threshold", "-1"], "--threshold must be from 0.0 to 1.0"),
    (["apply", "--target", "t", "--out", "OUT", "--threshold", "2"], "--threshold must be from 0.0 to 1.0"),
    (["clusters", "--out", "OUT", "--k", "0"], "--k must be from 1 to 48 (one per image), got 0"),  # a scikit-learn traceback
    (["clusters", "--out", "OUT", "--k", "-1"], "--k must be from 1 to 48 (one per image), got -1"),
    (["clusters", "--out", "OUT", "--k", f"{10 ** 12}"], "--k must be from 1 to 48 (one per image)"),  # saved as k=10**12
])
def test_bad_curate_numbers_are_one_line_before_any_work(emoji_dataset, tmp_path, args, message):
    dataset = copy_dataset(emoji_dataset, tmp_path / "ds")
    before = sorted(p.name for p in dataset.root.rglob("*"))
    verb, *rest = args
    rest = [str(tmp_path / "out") if a == "OUT" else a for a in rest]
    result = CliRunner().invoke(app, ["curate", verb, str(dataset.root), *rest])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: ")
    assert sorted(p.name for p in dataset.root.rglob("*")) == before and not (tmp_path / "out").exists()
