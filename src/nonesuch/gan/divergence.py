"""Stop a run whose losses or weights are no longer finite, before anything is written from them.

A NaN never recovers: Adam spreads it to every weight within a step, and every checkpoint written
after it is worthless while "keep the last K" rotates the good ones out. So each snapshot checks
the losses averaged since the last one and the weights it is about to save, on every process
(the weights are identical on all of them, so all stop together), and stops the run with the
last good checkpoint untouched and a message that says where it is.
"""

from __future__ import annotations

import math

from nonesuch.gan.checkpoint import latest_checkpoint, non_finite_tensors
from nonesuch.gan.config import TrainError

LOSS_KEYS = ("loss_d", "loss_g", "penalty")


def stop_if_diverged(run, record: dict) -> None:
    """Raise TrainError if a loss in this snapshot's record or a weight of the run is NaN/inf.

    Under fp16 loss scaling an overflowing step is expected: its loss is inf, the scaler skips
    the step and lowers the scale, and the weights stay as they were; there only the weights count."""
    skipped_steps_expected = any(scaler.is_enabled() for scaler in run.scalers.values())
    problems = [] if skipped_steps_expected else [f"{key} is {record[key]}" for key in LOSS_KEYS
                                                  if key in record and not math.isfinite(record[key])]
    networks = {"generator": run.generator, "discriminator": run.discriminator, "generator_ema": run.generator_ema}
    for name, net in networks.items():
        bad = non_finite_tensors(net.state_dict())
        if bad:
            problems.append(f"{name} has non-finite weights ({bad[0]}{', ...' if len(bad) > 1 else ''})")
    if not problems:
        return
    run_dir = run.dir
    last = latest_checkpoint(run_dir)
    kept = f"the last checkpoint, {last}, is kept" if last else "no checkpoint was written yet"
    raise TrainError(f"{run_dir}: training diverged by {record['images_seen']} images (step {record['step']}): "
                     f"{'; '.join(problems)}; stopped without writing a checkpoint, {kept}; "
                     f"resuming repeats the same steps, so start a new --out with a lower --lr or another --loss")
