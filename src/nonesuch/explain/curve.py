"""`--curve`: the trade-off between two targets, W in {0, .25, .5, .75, 1}.

    OUT/w0.00/ ... OUT/w1.00/   one explain folder per weight (signed images, explain.json)
    OUT/curve.png               target A against target B (mean over seeds, in standard
                                deviations over random samples), one point per W
    OUT/curve.md, curve.json    the same as a table, with the share of seeds reaching each
                                target's 90th percentile of real images (and both at once)

W = 0 is target A alone, W = 1 target B alone (objective.py), so the ends of the curve are the
single objectives and the middle says whether one picture can satisfy both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from nonesuch.atomic import atomic_path, write_bytes, write_json
from nonesuch.explain.errors import ExplainError
from nonesuch.explain.explain import percentile_among
from nonesuch.explain.folder import ExplainConfig, explain_to_folder

CURVE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def explain_curve(config: ExplainConfig, show_progress: bool = True) -> list[dict]:
    if len(config.targets) != 2:
        raise ExplainError(f"--curve needs exactly two --target (got {len(config.targets)})")
    rows, previous = [], None
    for weight in CURVE_WEIGHTS:
        run = replace(config, weight=weight, out=str(Path(config.out) / f"w{weight:.2f}"))
        previous = explain_to_folder(run, show_progress, reuse=previous)
        rows.append(curve_row(weight, previous))
    out = Path(config.out)
    write_json(out / "curve.json", {"targets": config.targets, "rows": rows})
    write_bytes(out / "curve.md", curve_table(config.targets, rows).encode())
    with atomic_path(out / "curve.png") as tmp:
        curve_plot(config.targets, rows).save(tmp, format="PNG")
    return rows


def curve_row(weight: float, outcome) -> dict:
    explanation = outcome.explanation
    sd = explanation.standardised(explanation.scores_after)                # [N, 2]
    row = {"weight": weight, "sd_a": round(float(sd[:, 0].mean()), 3),
           "sd_b": round(float(sd[:, 1].mean()), 3), "p90_a": None, "p90_b": None, "p90_both": None}
    if outcome.real_scores is not None:
        above = percentile_among(outcome.real_scores, explanation.scores_after) >= 90.0   # [N, 2]
        row.update(p90_a=round(float(above[:, 0].mean()), 3), p90_b=round(float(above[:, 1].mean()), 3),
                   p90_both=round(float(above.all(axis=1).mean()), 3))
    return row


def curve_table(targets: list[str], rows: list[dict]) -> str:
    def share(value):
        return "n/a" if value is None else f"{100 * value:.0f} %"
    lines = [f"A = `{targets[0]}`, B = `{targets[1]}`; scores in SD over random samples, "
             "shares of seeds at or above the 90th percentile of real images\n",
             "| W | A (SD) | B (SD) | A >= p90 | B >= p90 | both |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['weight']:.2f} | {r['sd_a']:+.2f} | {r['sd_b']:+.2f} | {share(r['p90_a'])} | "
              f"{share(r['p90_b'])} | {share(r['p90_both'])} |" for r in rows]
    return "\n".join(lines) + "\n"


def curve_plot(targets: list[str], rows: list[dict], side: int = 480):
    """A small scatter-and-line plot drawn with Pillow (no plotting library for five points)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)
    margin = 60
    xs, ys = np.array([r["sd_a"] for r in rows]), np.array([r["sd_b"] for r in rows])
    low, high = min(xs.min(), ys.min(), 0.0), max(xs.max(), ys.max(), 1.0)
    pad = 0.08 * (high - low)
    low, high = low - pad, high + pad

    def at(x, y):
        scale = (side - 2 * margin) / (high - low)
        return margin + (x - low) * scale, side - margin - (y - low) * scale

    draw.rectangle([margin, margin, side - margin, side - margin], outline="black")
    zero_x, zero_y = at(0, 0)
    draw.line([zero_x, margin, zero_x, side - margin], fill=(200, 200, 200))
    draw.line([margin, zero_y, side - margin, zero_y], fill=(200, 200, 200))
    points = [at(x, y) for x, y in zip(xs, ys)]
    draw.line(points, fill=(30, 90, 200), width=2)
    for (px, py), row in zip(points, rows):
        draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=(30, 90, 200))
        draw.text((px + 6, py - 14), f"W={row['weight']:.2f}", fill="black")
    draw.text((margin, side - margin + 12), f"A: {targets[0]} (SD over random samples)", fill="black")
    draw.text((margin, margin - 40), f"B: {targets[1]} (SD)", fill="black")
    draw.text((margin, 8), f"{low:.1f} .. {high:.1f} on both axes; 0 = a typical random sample", fill="black")
    return image
