"""nonesuch: turn a pile of images into a generator of images that never existed.

Stages, each a sub-package and a CLI verb: data (ingest) -> curate -> gan (train)
-> generate -> provenance -> web (publish/serve).
"""

__version__ = "0.1.0"
