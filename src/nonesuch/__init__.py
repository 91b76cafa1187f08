"""nonesuch: turn a pile of images into a generator of images that never existed.

Stages, each a sub-package and a CLI verb: data (ingest) -> curate -> gan (train) -> generate
-> provenance -> web (publish/serve). The names below are the Python API of the whole pipeline
(each stage package exports its own as well); see the README's "Python API" section.

    import nonesuch
    generator = nonesuch.load_generator("smileys32")       # or a RUN folder, or an exported one
    nonesuch.generate_to_folder(nonesuch.GenerateConfig(run="smileys32", out="out", seeds=[0, 1]))

Every error a user can act on is a nonesuch.NonesuchError (one family per stage under it).
"""

__version__ = "0.1.0"

from nonesuch.exports import lazy_exports  # noqa: E402  (after __version__, which modules read)

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.cpus": ["usable_cpu_count"],
    "nonesuch.data": ["Dataset", "DatasetError", "IngestConfig", "ingest"],
    "nonesuch.errors": ["NonesuchError"],
    "nonesuch.gan": ["CheckpointError", "GanError", "Generator", "GeneratorInfo", "SMOKE_OPTIONS",
                     "TrainConfig", "TrainError", "export_generator", "list_generators",
                     "load_generator", "resolve_config", "smoke_options"],
    "nonesuch.gan.train": ["train"],
    "nonesuch.generate": ["GenerateConfig", "GenerateError", "Producer", "WalkConfig",
                          "generate_to_folder", "write_walk"],
    "nonesuch.metrics": ["MetricsError", "evaluate_dataset"],
    "nonesuch.provenance": ["ProvenanceError", "Registry", "default_keys", "init_keys", "verify_file"],
    "nonesuch.web": ["PublishError", "ServeError", "publish_run", "publish_site", "serve",
                     "start_server"],
    "nonesuch.curate": ["CurateError"],
})
