"""Scores of a generator: the InceptionV3 features (inception.py), FID and KID (distances.py),
precision/recall (manifold.py), memorisation (memorisation.py), the protocol that ties them to a
dataset with real features cached (evaluate.py) and `nonesuch metrics` (commands.py).

    from nonesuch.metrics import evaluate_dataset
    evaluate_dataset(load_generator("smileys32"), "demo-out/smileys32", count=5000)
"""

from nonesuch.exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "nonesuch.metrics.distances": ["fid", "kid"],
    "nonesuch.metrics.evaluate": ["evaluate_dataset", "evaluate_generator"],
    "nonesuch.metrics.inception": ["MetricsError"],
})
