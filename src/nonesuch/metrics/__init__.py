"""Scores of a generator: the InceptionV3 features (inception.py), FID and KID (distances.py),
precision/recall (manifold.py), memorisation (memorisation.py), the protocol that ties them to a
dataset with real features cached (evaluate.py) and `nonesuch metrics` (commands.py).
"""
