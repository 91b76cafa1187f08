"""What a registered image looks like, so that our watermark on other pixels is caught.

The watermark is additive and the same 64 x 64 tile repeats across an image, so anyone holding
one of our published images can lift it: fold the image's high-pass residual into one tile (the
content averages away, the mark adds up) and add that tile to any other picture. Measured with
20 lines of numpy on a boot from Fashion-MNIST: `verify` read the boot as `traced` to seed 0 of
our run, watermark confidence 1.0. The mark alone cannot tell a copy from the original: it
carries an ID, not the pixels.

So each registry row also keeps a 48 x 48 colour thumbnail of its image (6.9 KB), and a mark
found on a file that is not the registered file counts only if the file still looks like that
image. "Looks like" must survive what the mark survives (JPEG, resizing, thumbnails, crops of up
to 10 % a side, mirroring, turns of 5 degrees and cropping to fit, brightness, noise), so:
- the shape: the file's luma is compared with the thumbnail's by normalised cross-correlation
  at the best of mirrored or not, turned by up to 7.5 degrees, cut to 70-100 % of each side, at
  every offset on a grid of half the thumbnail's pixels (by FFT: ~0.1 s for the whole search);
- the colours, where the shape fits best: the correlation of each chroma channel (blue and red
  minus luma). Without it a forger aims at the shape alone (helper-19): move each 48 x 48
  cell's mean grey of any photo to X's, add X's lifted mark, and the photo, its colours and
  finer detail intact, read `traced` at 0.999. The photo's colours give it away.
The likeness is the lower of the two (the colour one rescaled so COLOUR_MATCH lands on MATCH).

Measured (benchmarks/bench_copy_attack.py; 128 images of the shipped smileys64 at 256 px,
pixels only; results/copy-attack-128.txt):
  our image after each of the watermark suite's 17 attacks: likeness >= 0.952 (lowest: +20
  brightness, which clips the colours; 10 % crops 0.976), so 0 of 2,176 read `forged`;
  our mark copied onto a photo: <= 0.55; onto an emoji of another group: <= 0.69; onto a photo
  given the image's grey shape: <= 0.92. Every copy whose mark read was `traced` before and is
  `forged` now;
  onto the real OpenMoji smiley most like the image: up to 0.983, and 7 of 64 still read
  `traced`. The generator imitates the simple faces closely (seed 58 is OpenMoji's frowning
  face, slightly wobbly): at 48 px that copy IS the image.
  verify takes ~0.1 s for the search (97 ms an image, 21 ms without it).
MATCH = 0.94 sits between our own handled images and other pictures. A copy changed past it
(pasted into a larger picture, cut to under 70 % of a side, heavily drawn on) reads as not the
registered image either: it is no longer the image the registry vouches for. A border of one
colour (our image framed or letterboxed) is taken off and the rest searched again
(`_inside_frame`): it shows nothing, and the picture inside could be sent as it is.

What it cannot tell: a picture made to share the thumbnail in colour too (every cell's mean
colour moved to X's) is X at 48 px with a texture over it, and reads `traced`; and an image with
little colour (grey on white) has only its shape, so there a photo given its grey shape still
reads `traced` (an expected failure in tests/test_verify_rules.py). Closing that needs a
comparison finer than 48 px that our own crops and turns still pass; measured and not yet good
enough: the 96 px detail band's correlation, 0.87-0.91 for our worst handled copies against
0.82-0.85 for such a photo.

A latent walk is one row for many frames: its thumbnails are stored one after another (at most
MAX_FRAMES of them, evenly spaced), and a file is compared with the frames most like it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 48                    # thumbnail side: 6.9 KB a row in colour
MATCH = 0.94                 # likeness at or above this: the registered image (see above)
COLOUR_MATCH = 0.75          # chroma correlation that counts as the same colours (see _colour_likeness)
_FLAT_CHROMA = 2.0           # grey levels: a thumbnail's chroma spread below this says nothing
MAX_FRAMES = 128             # thumbnails kept for a walk, evenly spaced (885 KB at most)
_UPSAMPLE = 2                # the search runs on a copy twice the thumbnail's side: half-pixel offsets
_KEPT = np.round(np.arange(1.0, 0.695, -0.01), 2)    # share of a side a crop keeps, largest first
_ANGLES = (0.0, 2.5, -2.5, 5.0, -5.0, 7.5, -7.5)   # the mark is read to 6 degrees (watermark.py)
FRAME_TOLERANCE = 6         # grey levels from the corners' colour that still count as a border
FRAME_RINGING = 16          # px: a 4:2:0 JPEG MCU, how far a padded JPEG's seam rings into the border
_FRAMES_SEARCHED = 3         # a walk: the frames searched in full, the likeliest by a plain comparison
_FRAME_BYTES = SIDE * SIDE * 3


def thumbnail(pixels: np.ndarray) -> bytes:
    """[H, W, 3] uint8 -> SIDE x SIDE x 3, area-averaged, as bytes (what a registry row keeps)."""
    image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    return np.asarray(image.resize((SIDE, SIDE), Image.BOX), dtype=np.uint8).tobytes()


def frame_thumbnails(frames: np.ndarray) -> bytes:
    """[F, H, W, 3] uint8 -> the thumbnails of at most MAX_FRAMES evenly spaced frames."""
    chosen = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), MAX_FRAMES)).round().astype(int))
    return b"".join(thumbnail(frames[i]) for i in chosen)


def likeness(stored: bytes, pixels: np.ndarray, enough: float | None = MATCH) -> float:
    """How much `pixels` [H, W, 3] uint8 look like the image (or the best frame of the walk) whose
    thumbnails are `stored`, in [-1, 1]: the best normalised cross-correlation of the shape over
    the search in the module docstring, capped by the worst colour channel's where the shape fits.
    It stops at the first frame (or border-less copy) that reaches `enough` (None: tries them all,
    for measuring)."""
    frames = np.frombuffer(stored, dtype=np.uint8)
    if frames.size == 0 or frames.size % _FRAME_BYTES:
        raise ValueError(f"a stored thumbnail is {_FRAME_BYTES} bytes a frame, got {frames.size}")
    frames = frames.reshape(-1, SIDE, SIDE, 3)
    best = _best_placement(frames, pixels, enough)
    # Our image padded, letterboxed or framed is larger than the image the search places inside
    # the thumbnail: a border of one colour shows nothing, so it is taken off and the rest
    # searched (a forger gains nothing: the picture inside could have been sent as it is).
    for inside in _inside_frame(pixels):
        if enough is not None and best >= enough:
            break
        best = max(best, _best_placement(frames, inside, enough))
    return best


def _inside_frame(pixels: np.ndarray) -> list[np.ndarray]:
    """`pixels` without a border of one colour round them (the corners' colour, within
    FRAME_TOLERANCE, whole rows and columns from each edge), then that cut FRAME_RINGING px
    further on each side that had a border; [] when there is no border, or nothing else."""
    colour = pixels[0, 0].astype(np.int16)
    corners = pixels[[0, 0, -1, -1], [0, -1, 0, -1]].astype(np.int16)
    if np.abs(corners - colour).max() > FRAME_TOLERANCE:
        return []
    border = (np.abs(pixels.astype(np.int16) - colour) <= FRAME_TOLERANCE).all(axis=-1)
    rows, cols = np.flatnonzero(~border.all(axis=1)), np.flatnonzero(~border.all(axis=0))
    if rows.size == 0 or cols.size == 0:
        return []
    height, width = pixels.shape[:2]
    box = [rows[0], rows[-1] + 1, cols[0], cols[-1] + 1]
    if box == [0, height, 0, width]:
        return []
    # A JPEG of the padded image rings along the seam, up to an MCU into the border: the
    # tolerance stops short of the image there, so also try the box cut past that strip.
    cut = [edge + FRAME_RINGING * step if edge != limit else edge
           for edge, limit, step in zip(box, (0, height, 0, width), (1, -1, 1, -1))]
    return [np.ascontiguousarray(pixels[top:bottom, left:right]) for top, bottom, left, right in (box, cut)
            if min(bottom - top, right - left) >= 2 * FRAME_RINGING]


def _best_placement(frames: np.ndarray, pixels: np.ndarray, enough: float | None) -> float:
    """The best likeness of `pixels` to the likeliest few of `frames` ([F, SIDE, SIDE, 3] uint8):
    the shape first (luma, the whole search), then the colours where the shape fits best."""
    height, width = pixels.shape[:2]
    scale = 4 * SIDE / max(height, width)          # work on a small copy: a 4,000 px photo costs the same
    small = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    if scale < 1:
        small = small.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BOX)
    luma = small.convert("L")
    plain = np.asarray(luma.resize((SIDE, SIDE), Image.BOX), dtype=np.float32)
    frame_lumas = np.stack([np.asarray(Image.fromarray(frame).convert("L"), np.float32) for frame in frames])
    order = np.argsort(-_correlations(frame_lumas, plain))[:_FRAMES_SEARCHED]
    best = -1.0
    for index in order:
        shape, placement = _search(frame_lumas[index], luma, width / height)
        if placement is not None:
            best = max(best, min(shape, _colour_likeness(frames[index], small, placement)))
        if enough is not None and best >= enough:
            break
    return best


def _colour_likeness(frame: np.ndarray, small: Image.Image, placement: tuple) -> float:
    """How well the questioned image's colours agree with the stored thumbnail's where its shape
    fits best: the worse of the two chroma correlations (blue minus luma, red minus luma), put
    on the shape's scale so that COLOUR_MATCH lands on MATCH. Shape alone is luma, which a
    forger can give any photo while keeping its colours (a person sees the photo); the colours
    must agree too. Chroma flat in the thumbnail (a grey image) says nothing and is left out."""
    mirrored, angle, (top, left, h, w) = placement
    side = SIDE * _UPSAMPLE
    image = small.transpose(Image.FLIP_LEFT_RIGHT) if mirrored else small
    image = image.rotate(-angle, Image.BILINEAR, fillcolor=(255, 255, 255)) if angle else image
    coarse = image.resize((max(1, round(w / _UPSAMPLE)), max(1, round(h / _UPSAMPLE))), Image.BOX)
    query = _chroma(np.asarray(coarse.resize((w, h), Image.BILINEAR), dtype=np.float64))
    target = _chroma(np.asarray(Image.fromarray(frame).resize((side, side), Image.BILINEAR), np.float64))
    target = target[top:top + h, left:left + w]
    worst = 1.0
    for channel in range(2):
        a, b = query[..., channel] - query[..., channel].mean(), target[..., channel] - target[..., channel].mean()
        if b.std() < _FLAT_CHROMA:
            continue
        norm = np.sqrt((a * a).sum() * (b * b).sum())
        worst = min(worst, float((a * b).sum() / norm) if norm > 1e-6 else -1.0)
    return 1.0 - (1.0 - worst) * (1.0 - MATCH) / (1.0 - COLOUR_MATCH)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] RGB -> [..., 2]: blue and red minus luma (Cb, Cr up to scale)."""
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    return np.stack([rgb[..., 2] - luma, rgb[..., 0] - luma], axis=-1)


def _correlations(frames: np.ndarray, image: np.ndarray) -> np.ndarray:
    """[F, h, w] windows, [h, w] image -> [F] normalised cross-correlations (0 where either is flat)."""
    a = frames - frames.mean(axis=(-2, -1), keepdims=True)
    b = image - image.mean()
    norms = np.sqrt((a * a).sum(axis=(-2, -1))) * np.sqrt((b * b).sum())
    return np.where(norms > 1e-6, (a * b).sum(axis=(-2, -1)) / np.maximum(norms, 1e-6), 0.0)


def _search(frame: np.ndarray, small: Image.Image, aspect: float) -> tuple[float, tuple | None]:
    """Best correlation of the questioned image (a small grey copy, its aspect width / height)
    placed on one stored luma thumbnail: mirrored or not, turned, and as any crop of 70-100 % a
    side, at every offset on a grid twice as fine as the thumbnail's (a 10 % crop falls between
    its pixels). Returns it with where: (mirrored, angle, (top, left, height, width) on that grid)."""
    grid = _Grid(frame)
    best, where = -1.0, None
    for mirrored in (False, True):
        base = small.transpose(Image.FLIP_LEFT_RIGHT) if mirrored else small
        for angle in _ANGLES:
            turned = base.rotate(-angle, Image.BILINEAR, fillcolor=255) if angle else base
            for kept_height in _KEPT:
                kept_width = kept_height * aspect
                if not _KEPT[-1] - 0.005 <= kept_width <= 1.0 + 1e-9:
                    continue
                score, window = grid.best(turned, kept_height, kept_width)
                if score > best:
                    best, where = score, (mirrored, angle, window)
    return best, where


class _Grid:
    """One stored thumbnail, _UPSAMPLE x its side, ready to correlate with any window-sized image
    at every offset at once (by FFT; window means and norms from running sums)."""

    def __init__(self, frame: np.ndarray):
        self.side = SIDE * _UPSAMPLE
        self.target = np.asarray(Image.fromarray(frame).resize((self.side, self.side), Image.BILINEAR), np.float64)
        self.spectrum = np.fft.rfft2(self.target)
        self.sums = _running_sums(self.target)
        self.squares = _running_sums(self.target ** 2)

    def best(self, image: Image.Image, kept_height: float, kept_width: float) -> tuple[float, tuple]:
        """The best correlation of `image`, scaled to the crop's share of the thumbnail, at any
        offset, and that window (top, left, height, width)."""
        h, w = max(2, round(self.side * kept_height)), max(2, round(self.side * kept_width))
        # Through the thumbnail's grid and back, as the target was: the same blur on both.
        coarse = image.resize((max(1, round(w / _UPSAMPLE)), max(1, round(h / _UPSAMPLE))), Image.BOX)
        query = np.asarray(coarse.resize((w, h), Image.BILINEAR), dtype=np.float64)
        query -= query.mean()
        query_norm = float(np.sqrt((query * query).sum()))
        if query_norm < 1e-6:                      # a flat picture looks like nothing
            return -1.0, (0, 0, h, w)
        padded = np.zeros_like(self.target)
        padded[:h, :w] = query
        products = np.fft.irfft2(self.spectrum * np.conj(np.fft.rfft2(padded)), s=self.target.shape)
        products = products[:self.side - h + 1, :self.side - w + 1]     # the offsets that do not wrap
        count = h * w
        window_sum, window_squares = _windows(self.sums, h, w), _windows(self.squares, h, w)
        window_norm = np.sqrt(np.maximum(window_squares - window_sum ** 2 / count, 0.0))
        scores = products / np.maximum(window_norm * query_norm, 1e-6)
        top, left = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return float(scores[top, left]), (int(top), int(left), h, w)


def _running_sums(values: np.ndarray) -> np.ndarray:
    """[H, W] -> [H + 1, W + 1] sums of every top-left rectangle (a summed-area table)."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    table[1:, 1:] = values.cumsum(0).cumsum(1)
    return table


def _windows(table: np.ndarray, h: int, w: int) -> np.ndarray:
    """The sum of every h x w window, [H - h + 1, W - w + 1], from a summed-area table."""
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]
