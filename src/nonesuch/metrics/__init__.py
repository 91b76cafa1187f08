"""FID and KID with the standard InceptionV3 (inception.py), the distances (distances.py), real
features cached per dataset and generator evaluation (evaluate.py), `nonesuch metrics` (commands.py).
"""
