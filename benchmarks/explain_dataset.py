"""The dataset bench_explain.py measures on: the 171 OpenMoji smileys at 64 px, embedded, with
three curation targets labelled from Unicode's own subgroups (no person needed), so
`curate:DATASET:hearts` and friends are the same classifiers on every machine.

    .venv/bin/python benchmarks/explain_dataset.py OUT            # DATASET = OUT/smileys64
    .venv/bin/python benchmarks/bench_explain.py --run smileys64 --reals OUT/smileys64 \
        --targets "curate:OUT/smileys64:hearts,lemon,sunglasses,balloon" ...

Targets (keep = these subgroups, discard = every other smiley): hearts = `heart` (25),
cat-faces = `cat-face` + `monkey-face` (12), sad-faces = `face-concerned` (27).
Each step skips work already done, so a second run costs seconds.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

TARGETS = {"hearts": {"heart"}, "cat-faces": {"cat-face", "monkey-face"}, "sad-faces": {"face-concerned"}}


def main(out: Path) -> Path:
    from nonesuch.curate.embed import embed_dataset
    from nonesuch.curate.importing import import_labels
    from nonesuch.curate.labels import LabelStore
    from nonesuch.data import Dataset
    from nonesuch.data.openmoji import unicode_emoji
    from nonesuch.demo import build_dataset

    dataset = Dataset(build_dataset(out))                  # OUT/openmoji rendered, OUT/smileys64 ingested
    embed_dataset(dataset)
    subgroup = {e.hexcode: e.subgroup for e in unicode_emoji()}
    records = dataset.records()
    store = LabelStore(dataset.root)
    try:
        labelled = set(store.targets())
    finally:
        store.close()
    for name, keep in TARGETS.items():
        if name in labelled:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as handle:
            writer = csv.writer(handle)
            writer.writerow(["idx", "label"])
            writer.writerows((i, "keep" if subgroup[Path(r.source).stem] in keep else "discard")
                             for i, r in enumerate(records))
        print(name, import_labels(dataset, name, handle.name))
        Path(handle.name).unlink()
    print(f"DATASET = {dataset.root}: {len(records)} smileys, embedded, targets {', '.join(TARGETS)}")
    return dataset.root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
