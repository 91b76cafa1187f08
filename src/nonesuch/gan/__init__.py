"""Progressive Growing GAN (Karras et al. 2017) with self-attention and class conditioning.

Read in this order: layers.py -> networks.py (the model), presets.py, schedule.py, losses.py,
ema.py, data.py, train.py (the loop), checkpoint.py (the run folder; `load_generator` is what
later stages use), snapshot.py, distributed.py, commands.py (`nonesuch train`).
"""
