"""Registry: IDs are a function of the image, rows are idempotent, collisions are refused."""

import pytest

from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry, walk_watermark_id_for, watermark_id_for

def record(seed, checkpoint="ab" * 32, sha256="f" * 64, **changes):
    fields = dict(run="run", checkpoint="000001", checkpoint_sha256=checkpoint, seed=seed,
                  class_name=None, truncation=None, size=256, format="jpg",
                  watermark_id=watermark_id_for(checkpoint, seed, None, None),
                  created="2026-01-01T00:00:00+00:00", sha256=sha256)
    fields.update(changes)
    return GenerationRecord(**fields)

def test_ids_depend_on_everything_that_fixes_the_pixels():
    base = watermark_id_for("ab" * 32, 1, None, None)
    assert base == watermark_id_for("ab" * 32, 1, None, None)
    assert 0 <= base < 2 ** 48
    others = {watermark_id_for("ab" * 32, 2, None, None), watermark_id_for("cd" * 32, 1, None, None),
              watermark_id_for("ab" * 32, 1, "cats", None), watermark_id_for("ab" * 32, 1, None, 0.7)}
    assert base not in others and len(others) == 4

def test_rows_round_trip_and_regenerating_updates_the_file_hash(tmp_path):
    with Registry(tmp_path / "r.sqlite") as registry:
        registry.add([record(1), record(2)])
        registry.add([record(1, sha256="e" * 64)])           # same image made again
        assert len(registry) == 2
        row = registry.lookup(record(1).watermark_id)
        assert row["seed"] == 1 and row["sha256"] == "e" * 64
        assert registry.lookup_sha256("e" * 64)["seed"] == 1
        assert registry.lookup(12345) is None

def test_two_images_never_share_an_id(tmp_path):
    with Registry(tmp_path / "r.sqlite") as registry:
        registry.add([record(1)])
        clash = record(2, watermark_id=record(1).watermark_id)
        with pytest.raises(ProvenanceError, match="refusing"):
            registry.add([record(3), clash])
        assert registry.lookup(record(3).watermark_id) is None   # the whole batch rolled back

def test_a_file_that_is_not_a_registry_is_named(tmp_path):
    bogus = tmp_path / "r.sqlite"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProvenanceError, match="r.sqlite"):
        Registry(bogus)


def test_a_registry_from_before_walks_gets_the_walk_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:                      # the schema before walks were marked
        db.execute("CREATE TABLE images (watermark_id INTEGER PRIMARY KEY, run TEXT NOT NULL, "
                   "checkpoint TEXT NOT NULL, checkpoint_sha256 TEXT NOT NULL, seed INTEGER NOT NULL, "
                   "class_name TEXT, truncation REAL, size INTEGER, format TEXT, sha256 TEXT, "
                   "created TEXT NOT NULL)")
        db.execute("INSERT INTO images VALUES (7, 'run', '000001', 'ab', 1, NULL, NULL, 256, 'jpg', "
                   "'f', '2026-01-01')")
    db.close()
    with Registry(path) as registry:
        assert registry.lookup(7)["walk_seeds"] is None
        walk = record(0, format="gif", walk_seeds="0,3,5",
                      watermark_id=walk_watermark_id_for("ab" * 32, "0,3,5", 24, None, None))
        registry.add([walk])
        assert registry.lookup(walk.watermark_id)["walk_seeds"] == "0,3,5"
    assert walk.watermark_id not in (record(0).watermark_id,
                                     walk_watermark_id_for("ab" * 32, "0,3,5", 12, None, None))


# A writer process for the concurrency sweep: opens the registry (racing the others to create it
# and its schema), then adds batches of 10 seeds, overlapping the next batch and every other
# writer (the same image registered twice). The "thief" registers, at the same moments, other
# images (seed 10**6 + s, another run and file) under the IDs of the seeds the others register.
_WRITER = """
import sys
from nonesuch.provenance.errors import ProvenanceError
from nonesuch.provenance.record import GenerationRecord
from nonesuch.provenance.registry import Registry, watermark_id_for

path, thief = sys.argv[1], sys.argv[2] == "1"
def record(seed, run="run", sha256="f" * 64, watermark_id=None):
    return GenerationRecord(run=run, checkpoint="000001", checkpoint_sha256="ab" * 32, seed=seed,
                            class_name=None, truncation=None, size=256, format="jpg",
                            watermark_id=watermark_id or watermark_id_for("ab" * 32, seed, None, None),
                            created="2026-01-01T00:00:00+00:00", sha256=sha256)
refused = 0
with Registry(path) as registry:
    for batch in range(40):
        seeds = range(batch * 5, batch * 5 + 10)
        if thief:
            records = [record(10**6 + s, run="thief", sha256="e" * 64, watermark_id=record(s).watermark_id)
                       for s in seeds]
        else:
            records = [record(s) for s in seeds]
        try:
            registry.add(records)
        except ProvenanceError as error:
            assert "refusing" in str(error), error
            refused += 1
print(refused)
"""


def test_concurrent_writers_neither_fail_nor_overwrite_each_other(tmp_path):
    """Writers in separate processes on one registry: no 'database is locked', no traceback, and
    each ID belongs wholly to one image: a writer whose check ran before another process wrote
    the ID must be refused, not merge its run and file into the other image's row."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "1" if i == 0 else "0"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(4)]
    results = [(w.wait(timeout=120), *w.communicate()) for w in writers]
    for code, out, err in results:
        assert code == 0 and not err, err[-2000:]
    with Registry(path) as registry:
        assert len(registry) == 40 * 5 + 5
        owners = []
        for seed in range(205):
            row = registry.lookup(watermark_id_for("ab" * 32, seed, None, None))
            owner = "honest" if row["seed"] == seed else "thief"
            assert (row["run"], row["sha256"]) == (("run", "f" * 64) if owner == "honest" else ("thief", "e" * 64)), row
            owners.append(owner)
    refusals = sum(int(out) for _, out, _ in results)
    assert refusals >= 40  # every thief batch, or the honest batches it beat, refused whole


def test_no_other_writer_gets_between_the_collision_check_and_the_write(tmp_path):
    """Deterministic form of the race above: a second connection tries to register a clashing
    image right after the first one checked the ID and before it wrote. It must wait (here: give
    up after its short timeout, with one line), never merge into or overwrite the row."""
    path = tmp_path / "r.sqlite"
    first, second = Registry(path), Registry(path, busy_timeout_s=0.2)
    thief = record(99, sha256="e" * 64, run="thief", watermark_id=record(1).watermark_id)
    outcome = []
    check = first.lookup

    def check_then_race(watermark_id):
        found = check(watermark_id)
        try:
            second.add([thief])
            outcome.append("thief wrote")
        except ProvenanceError as error:
            outcome.append(str(error))
        return found

    first.lookup = check_then_race
    first.add([record(1)])
    row = second.lookup(record(1).watermark_id)
    assert (row["seed"], row["run"], row["sha256"]) == (1, "run", "f" * 64)
    assert outcome and "busy" in outcome[0] and "\n" not in outcome[0]
    first.close()
    second.close()
