"""Stage 4: a generator in, finished images out (watermarked, labelled, signed, registered).

    from nonesuch.generate import GenerateConfig, generate_to_folder
    generate_to_folder(GenerateConfig(run="smileys32", out="out/", seeds=list(range(100))))

folder.py (`nonesuch generate`), pipeline.py (Producer: seeds in, finished files out; shared
with the live server), interpolate.py (`nonesuch interpolate`), records.py (the generation
record of every image), finish.py (resize, watermark, encode, sign). The pixels come from the
gan stage's Generator.sample.
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.generate.errors": ["GenerateError"],
    "nonesuch.generate.folder": ["GenerateConfig", "GenerateSummary", "generate_to_folder"],
    "nonesuch.generate.interpolate": ["WalkConfig", "write_walk"],
    "nonesuch.generate.pipeline": ["ProducedImage", "Producer"],
    "nonesuch.generate.records": ["generation_record"],
    "nonesuch.generate.sampling": ["parse_seeds"],
})
