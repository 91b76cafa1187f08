"""FID and KID with the standard InceptionV3 (inception.py), the distances (distances.py), real
features cached per dataset and generator evaluation (evaluate.py), `nonesuch metrics` (commands.py).

    from nonesuch.metrics import evaluate_dataset
    evaluate_dataset(load_generator("smileys32"), "demo-out/smileys32", count=171)
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.metrics.distances": ["fid", "kid"],
    "nonesuch.metrics.evaluate": ["evaluate_dataset", "evaluate_generator"],
    "nonesuch.metrics.inception": ["MetricsError"],
})
