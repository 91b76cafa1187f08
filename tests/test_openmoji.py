import numpy as np
from PIL import Image

from nonesuch.data.openmoji import render_openmoji, unicode_emoji


def test_groups_come_from_unicode_data():
    groups = {e.group for e in unicode_emoji()}
    assert {"smileys-emotion", "animals-nature", "food-drink", "flags"} <= groups
    assert "component" not in groups


def test_renders_coloured_emoji_per_group(tmp_path):
    counts = render_openmoji(tmp_path, 32, groups=["animals-nature", "flags"], limit_per_group=3)
    assert counts == {"animals-nature": 3, "flags": 3}
    png = sorted((tmp_path / "animals-nature").glob("*.png"))[0]
    im = Image.open(png)
    assert im.size == (32, 32) and im.mode == "RGBA"
    assert im.getchannel("A").getextrema() == (0, 255)  # transparent background, opaque glyph
    assert len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 5   # colour, not a blank or a tofu box
    assert "CC BY-SA" in (tmp_path / "LICENSE.txt").read_text()
