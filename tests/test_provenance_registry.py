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
