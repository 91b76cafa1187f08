"""Layer 1 of provenance: an invisible watermark carrying a 48-bit ID, robust to the handling an
image meets when shared (JPEG, resizing, cropping, brightness, noise; mirroring, small
rotations and thumbnails through the detector's search).

Design (classic tiled spread spectrum, no model weights):
  embed   ID -> CRC-16 -> K=7 convolutional code (140 raw bits, `watermark_code.py`)
          -> a 64 x 64 tile of +-1 chips, a sync part and a payload part (`watermark_pattern.py`)
          -> tiled over the image and shaped by a mask: less where a pixel has no luma
             headroom (white backgrounds, black outlines clip half of it) and less on busy
             texture (where the detector cannot hear it anyway), more on smooth areas;
             on mostly-white line art, energy moved from the white (which a +20 brightening
             clips to 255) onto the strokes (which keep it), and pure black lifted 4 grey
             levels so the strokes keep the mark's dips as well as its peaks
          -> most of the energy re-expressed as whole JPEG quality-50 quantisation steps on
             the 8 x 8 grid, which JPEG keeps exactly (`watermark_jpeg.py`); where the image
             clips them (a white background keeps only the dips), restored after clipping,
             so that q30 rounds them up, not away
          -> added to luminance only, one gain landing every image at the same PSNR (the
             mark is made, its cost measured, and made again at the budget that fits)
          -> closed loop: JPEG q30 and q75 the result (its luma plane, coded as JPEG codes it)
             and read it back; where the ID does not come back with margin, embed again 1.5
             or 3 dB stronger (a few % of emoji).
  detect  luminance -> high-pass residual, with areas clipped to 255 or 0 as erasures (weight
          0, left out of their neighbours' local mean), weighted per pixel by the embedder's
          mask over the local noise power (a matched filter: edges count for little)
          -> folded into one 64 x 64 tile (summing every tile adds up the mark, not the
          content) -> FFT
          cross-correlation with the sync chips at all 4096 cyclic shifts (this finds the grid
          after a crop) -> payload soft bits at the best shift -> soft Viterbi -> CRC.
  search  where the image as it is does not read: the same with the matched residual
          mirrored, and turned back by each of `rotations` (a mirror commutes with the
          symmetric filters, a small turn nearly: no filtering is redone, a fold and an FFT
          each; turning the image instead read sync z 0.3 higher at 3x the cost), and a
          copy smaller than a `restore_sizes` entry resized back up to it (thumbnails).

False positives. For one image and one shift d, the sync score is
    z(d) = sum_c s_c g_c(d) / sqrt(sum_c g_c(d)^2)
where s_c are the key's sync chip signs (independent fair coins) and g_c(d) the image's filtered
values under them. Whatever the image, Hoeffding's inequality for Rademacher sums gives
P(z(d) >= t) <= exp(-t^2 / 2). The payload chips are disjoint from the sync chips and also fair
coins, so the decoded message of an unmarked image is uniform and passes the CRC-16 with
probability 2**-16, independently of the sync. "found" needs both, so per image
    P(false "found") <= shifts * exp(-t^2 / 2) * 2**-16 = 4096 * exp(-12.5) * 2**-16 = 2.3e-7
for the default threshold t = 5. Each search trial is one more such test (Bonferroni): held to
the higher `search_threshold` s = 5.5, the 10 default trials (mirror, 8 angles, 1 restore size)
add 10 * 4096 * exp(-s^2 / 2) * 2**-16 = 1.7e-7, so P(false "found") <= 4.0e-7 per image
(`false_found_bound`), while the image as it is keeps t = 5 and reads every attack it read
before. The probability is over the key: it holds for every image that does not depend on it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from PIL import Image

from nonesuch.provenance.watermark_code import (CODED_BITS, CRC_BITS, ID_BITS, MESSAGE_BITS,
                                                encode, id_from_message, message_bits,
                                                viterbi_decode)
from nonesuch.provenance.watermark_attacks import ATTACKS, LUMA_ATTACKS
from nonesuch.provenance.watermark_filters import box_all, box_any, box_mean, gaussian_blur
from nonesuch.provenance.watermark_jpeg import quantised_mark
from nonesuch.provenance.watermark_pattern import KeyPattern, key_pattern

__all__ = ["ID_BITS", "MESSAGE_BITS", "CODED_BITS", "WatermarkConfig", "WatermarkResult", "embed",
           "detect", "decode_bits", "payload_bits", "decode_channel_bits", "channel_bits",
           "false_positive_bound", "false_found_bound"]


@dataclass(frozen=True)
class WatermarkConfig:
    """Every knob of the scheme; embedder and detector must share one. The defaults were tuned on
    OpenMoji renders on white and photo crops at 256 px (benchmarks/bench_watermark.py)."""
    # The key and the pattern.
    key_seed: int = 0x6E6F6E65        # the secret: which chips, which signs ("none" in ASCII)
    tile: int = 64                    # px; the pattern's period
    chip_spacing: int = 2             # px between chips: 32 x 32 = 1024 chips per tile
    chip_sigma: float = 0.9           # px; Gaussian chip bump, keeps energy below ~0.25 cycles/px
    sync_fraction: float = 0.2        # share of the chips that carry the sync, not the payload
    # Embedding.
    target_psnr_db: float = 40.5      # every image lands here at strength 1 (RGB PSNR)
    mask_headroom: float = 8.0        # grey levels of luma headroom (up and down) for full strength
    mask_saturated: float = 0.5       # relative strength where there is no headroom (white, black)
    mask_texture_scale: float = 6.0   # grey levels of texture (residual RMS) that halve strength
    mask_texture_exponent: float = -1.0  # strength ~ (1 + texture / scale) ** exponent
    # A brightening of `shift_levels` clips near-white pixels to 255 (a darkening, near-black
    # ones to 0) and erases the mark there. Where the pixels one shift clips would hold more
    # than 1 - `shift_share` of the mark's energy, they are turned down until those that
    # survive it hold `shift_share`: on mostly-white line art the strokes then carry the mark
    # through a +20 (bit accuracy 0.958 -> 0.995 at 256 px, bench_watermark.py).
    shift_levels: float = 20.0
    shift_share: float = 0.5
    # Pure black keeps only the mark's positive half (its dips clip at 0), and after a +20 the
    # black strokes are what line art has left. Channels under `black_lift` grey levels are
    # raised to it (invisible), at most `black_lift_share` of the PSNR budget (dark photos get
    # less); with it, +20 decodes 18/18 marks on six line-art emoji against 11/18 without.
    black_lift: int = 4
    black_lift_share: float = 0.15
    jpeg_step_share: float = 0.7      # energy share in whole JPEG q50 steps (watermark_jpeg.py)
    jpeg_max_step: float = 16.0       # only DCT coefficients with a q50 step up to this carry it
    # Closed loop: attacks (names in watermark_attacks.ATTACKS) each mark is checked against;
    # where the ID does not come back with `closed_loop_margin` of sync z to spare, embed again
    # `boost_step_db` stronger, up to `max_boost_db`. Costs an attack and a read per check.
    # q30 and q75: with the whole steps held through clipping, line art reads about the same
    # sync z after q30, q50 and q75 (8.4 / 8.5 / 8.8 on 30 emoji at 256 px, minimum 6.5 / 6.6
    # / 7.0), and q30 and q75 are where a payload failed (2 of 40, 1 of 40) without the loop;
    # q50, whose steps the mark is made of, failed none.
    closed_loop_attacks: tuple[str, ...] = ("jpeg30", "jpeg75")
    closed_loop_margin: float = 1.0
    boost_step_db: float = 1.5
    max_boost_db: float = 3.0
    # Both: the residual where the mark lives, and its local statistics.
    highpass_sigma: float = 1.5       # px; residual = luma - Gaussian blur(luma)
    local_window: int = 7             # px; box over which texture and headroom are averaged
    # Detection: an area clipped to 255 (or 0) over a whole `erase_window` box has lost its mark
    # (a +20 on a white background); its pixels, and a ring of `erase_ring` px of anti-aliased
    # edge round it, are erasures that weigh nothing, not evidence of "no mark". Only where
    # such areas cover `erase_min_share` of the image or more (a +20 of white-background art:
    # 57-91 %; marked, JPEG'd, resized or darkened images: under 20 %): below it the plain
    # high-pass reads them well and at a third of the cost.
    erase_window: int = 5
    erase_ring: int = 1
    erase_min_share: float = 0.3
    # Detection.
    local_rms_floor: float = 1.0      # grey levels; flat areas' rounding noise must not blow up
    sync_threshold: float = 5.0       # z; see the module docstring for the bound it gives
    presence_threshold: float = 6.7   # z above which a mark is there even without the CRC (<1e-6)
    min_side: int = 64                # px; smaller images cannot hold a whole tile: abstain
    min_texture: float = 0.6          # grey levels of residual RMS below which we cannot tell
    # Size factors `detect` tries in turn: (1.0, 2.0, 0.5) also finds marks on images halved or
    # doubled since marking (no resize back). Each scale but 1.0 is one more search trial.
    scales: tuple[float, ...] = (1.0,)
    # The search: what re-posters and platforms do to a copy, undone by `detect` when the image
    # as it is does not read. Each item is one more trial in the false-positive bound, held to
    # `search_threshold` (Bonferroni: see `false_found_bound`); the image as it is keeps
    # `sync_threshold`, so every attack that read before reads the same way now.
    mirror: bool = True               # a horizontally mirrored copy
    # Degrees a copy may have been rotated by, undone on the matched residual. One reading
    # tolerates about 1 degree of error (sync z 15 -> 9 on emoji), so a step of 1.5 covers
    # +-6 degrees; a copy cropped after rotating reads as well (the sync finds the shift).
    rotations: tuple[float, ...] = (-6.0, -4.5, -3.0, -1.5, 1.5, 3.0, 4.5, 6.0)
    # Sizes a smaller copy is resized back to (its longer side), for thumbnails of generated
    # images: `generate` makes 256 px by default. A reading tolerates ~1 % of scale error, so
    # this works for whole-image thumbnails of images made at these sizes (x0.3 of 256 = 77 px
    # -> 256 is 0.3 % off), not for an arbitrary rescale of a crop (`scales` for those).
    restore_sizes: tuple[int, ...] = (256,)
    search_threshold: float = 5.5

    @property
    def search_trials(self) -> int:
        """Readings `detect` may make besides the image as it is."""
        return (len([s for s in self.scales if s != 1.0]) + int(self.mirror)
                + len(self.rotations) + len(self.restore_sizes))

    def to_json(self) -> dict:
        """Save it beside marked images: the detector needs the same config (and key)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "WatermarkConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


DEFAULT_CONFIG = WatermarkConfig()


@dataclass(frozen=True)
class WatermarkResult:
    """What the detector concluded about one image.

    confidence: 1 - the analytic bound on the probability that an unmarked image scores at least
    this well: `false_positive_bound` at this image's best sync z, with the CRC's 2**-16 factor
    only when the CRC checked. 1 - 2.3e-7 at the "found" threshold, ~1.0 for a clean mark
    (sync z ~15), 0.0 when there is no evidence at all.
    bit_accuracy_estimate: for "found", the share of the 140 raw bits that agree with the
    re-encoded decoded ID (how damaged the mark was).
    """
    status: Literal["found", "absent", "abstain"]  # abstain: cannot tell (flat, tiny, ...)
    watermark_id: int | None                       # set when status == "found"
    confidence: float
    bit_accuracy_estimate: float | None = None
    sync_z: float | None = None                    # best sync score, for diagnostics


def payload_bits(watermark_id: int) -> np.ndarray:
    """[64] uint8: 48 ID bits then 16 CRC bits, the payload `decode_bits` reads back."""
    return message_bits(watermark_id)


def channel_bits(watermark_id: int) -> np.ndarray:
    """[140] uint8: the payload after the convolutional code, the raw bits the chips carry
    (what `decode_channel_bits` reads)."""
    return encode(message_bits(watermark_id))


def false_positive_bound(sync_z: float, crc_checked: bool = True,
                         config: WatermarkConfig = DEFAULT_CONFIG) -> float:
    """Upper bound on P(an unmarked image reaches this sync z (and passes the CRC)) in any of
    the readings `detect` makes: a union bound over every shift of every reading."""
    tests = config.tile * config.tile * (1 + config.search_trials)
    crc_factor = 2.0 ** -CRC_BITS if crc_checked else 1.0
    return min(1.0, tests * math.exp(-0.5 * sync_z * sync_z) * crc_factor)


def false_found_bound(config: WatermarkConfig = DEFAULT_CONFIG) -> float:
    """Upper bound on P(`detect` says "found" on an unmarked image): the union bound over the
    image as it is (at `sync_threshold`) and each search trial (at `search_threshold`), every
    shift of each, times the CRC's 2**-16. 4.0e-7 for the defaults (2.3e-7 without search)."""
    per_shift = (math.exp(-0.5 * config.sync_threshold ** 2)
                 + config.search_trials * math.exp(-0.5 * config.search_threshold ** 2))
    return min(1.0, config.tile * config.tile * per_shift * 2.0 ** -CRC_BITS)


def _key(config: WatermarkConfig) -> KeyPattern:
    return key_pattern(config.key_seed, config.tile, config.chip_spacing, config.chip_sigma,
                       config.sync_fraction)


def _check_rgb(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an [H, W, 3] uint8 RGB image, got {image.shape} {image.dtype}")


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)   # BT.601, the Y of JPEG


def _luma(image: np.ndarray) -> np.ndarray:
    """[H, W] float32 luma, the channel JPEG keeps at full resolution."""
    return image.astype(np.float32) @ LUMA_WEIGHTS


def _residual(luma: np.ndarray, config: WatermarkConfig,
              erased: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """High-pass residual [H, W] (where the mark lives) and its local RMS [H, W], grey levels.

    erased: [H, W] float32, 1 where pixels are erasures (`_erased`): the residual is 0 there,
    and elsewhere taken from the local mean of the other pixels only (normalised convolution),
    so a black stroke beside a clipped white background does not read as a 235-level edge."""
    if erased is None:
        residual = luma - gaussian_blur(luma, config.highpass_sigma)
    else:
        valid = 1.0 - erased
        weight = gaussian_blur(valid, config.highpass_sigma)
        smooth = gaussian_blur(luma * valid, config.highpass_sigma)
        residual = (luma - smooth / np.maximum(weight, 1e-3)) * valid
    return residual, np.sqrt(box_mean(residual * residual, config.local_window))


def _erased(luma: np.ndarray, config: WatermarkConfig) -> np.ndarray | None:
    """[H, W] float32, 1 on the erasures, 0 elsewhere; None when there are few or none (the
    usual case).

    Erasures: areas clipped to 255 or 0 (every pixel of an `erase_window` box, then the whole
    area up to its edge: a morphological opening, so the clipped positive chips of a marked
    white background, which are evidence, stay in), plus a ring of `erase_ring` px round them.
    The weights depend on the image only, never on the key: the false-positive bound holds."""
    saturated = (luma >= 254.5) | (luma <= 0.5)
    least = max(config.erase_min_share * luma.size, config.erase_window ** 2)
    if np.count_nonzero(saturated) < least:
        return None
    window = config.erase_window
    erased = box_any(box_all(saturated, window), window) & saturated
    if np.count_nonzero(erased) < least:
        return None
    if config.erase_ring:                     # the anti-aliased edge is mostly content
        erased = box_any(erased, 2 * config.erase_ring + 1)
    return erased.astype(np.float32)


def _perceptual_mask(luma: np.ndarray, texture: np.ndarray, config: WatermarkConfig) -> np.ndarray:
    """[H, W] float32 relative strength, from luma and texture [H, W] (grey levels); shared by
    the embedder and the detector's weights.

    Busy texture gets less: the detector (a matched filter) discounts it, because the content's
    own residual and JPEG's ringing drown the mark there; moving that energy to smooth areas
    cut the raw bit errors after JPEG q50 from 22 % to 9 % in our tuning runs. Pixels without
    luma headroom both ways (white backgrounds, black outlines) keep only half of each chip, so
    they get `mask_saturated`; the global gain moves the budget to the pixels that keep it."""
    headroom = box_mean(np.minimum(255.0 - luma, luma), config.local_window)  # [H, W] grey
    room = np.clip(headroom * (1.0 / config.mask_headroom), config.mask_saturated, 1.0)
    if config.mask_texture_exponent == -1.0:   # the default: a division, not a power
        return room / (1.0 + texture * (1.0 / config.mask_texture_scale))
    return room * (1.0 + texture / config.mask_texture_scale) ** config.mask_texture_exponent


def _channel_range(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's lowest and highest channel, [H, W] uint8 each (two pairwise minimums:
    numpy's min over a last axis of 3 is ten times slower)."""
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    return (np.minimum(np.minimum(red, green), blue), np.maximum(np.maximum(red, green), blue))


def _add_luma(original: np.ndarray, delta: np.ndarray,
              channel_range: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`original` [H, W, 3] uint8 with `delta` [H, W] (grey levels) added to its luma, rounded
    and clipped: [H, W, 3] uint8. channel_range: `_channel_range(original)`.

    Equal steps on R, G and B keep the colour, and for integer pixels rounding the step first
    gives the same bytes as rounding the sum, so most of the work is in int16. Where a pixel
    clips in some channels but not all (the red of a yellow fill), the luma it lost goes to the
    channels that still have room, once; only those few pixels are redone in float."""
    step = np.rint(delta).astype(np.int16)                              # [H, W]
    marked = original.astype(np.int16)
    for channel in range(3):            # (a broadcast over a last axis of 3 is slower)
        marked[..., channel] += step
    np.clip(marked, 0, 255, out=marked)
    marked = marked.astype(np.uint8)
    lowest = channel_range[0] + delta                                   # [H, W] float32
    highest = channel_range[1] + delta
    partial = ((highest > 255.0) & (lowest < 255.0)) | ((lowest < 0.0) & (highest > 0.0))
    if partial.any():
        pixels = original[partial].astype(np.float32)                   # [K, 3]
        change = delta[partial]                                         # [K]
        moved = np.clip(pixels + change[:, None], 0.0, 255.0)
        missing = change - (moved - pixels) @ LUMA_WEIGHTS
        free = ((moved > 0.0) & (moved < 255.0)).astype(np.float32)
        free_weight = np.maximum(free @ LUMA_WEIGHTS, 1e-3)
        moved += free * (missing / free_weight)[:, None]
        marked[partial] = np.rint(np.clip(moved, 0.0, 255.0)).astype(np.uint8)
    return marked


# ---------------------------------------------------------------- embedding

def _tiled(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    t = tile.shape[0]
    return np.tile(tile, (-(-height // t), -(-width // t)))[:height, :width]


def embed(image: np.ndarray, watermark_id: int, strength: float = 1.0,
          config: WatermarkConfig = DEFAULT_CONFIG) -> np.ndarray:
    """[H, W, 3] uint8 RGB -> the same image carrying `watermark_id`, [H, W, 3] uint8.

    strength scales the mark's amplitude: 1.0 gives `config.target_psnr_db`, 2.0 is 6 dB
    stronger (lower PSNR), 0.5 weaker. With `config.closed_loop_attacks`, the marked image is
    put through those attacks and read back; where the ID does not come back with margin, the
    mark goes in again, up to `config.max_boost_db` stronger (and that much under the target).
    """
    _check_rgb(image)
    height, width = image.shape[:2]
    pattern = _tiled(_key(config).tile_pattern(channel_bits(watermark_id)), height, width)
    lifted, lift_mse = _lifted_blacks(image, _target_mse(strength, config), config)
    luma = _luma(lifted)
    _, texture = _residual(luma, config)
    delta = _perceptual_mask(luma, texture, config) * pattern     # [H, W], grey levels / gain
    delta = _balanced_for_shifts(delta, luma, config)
    channel_range = _channel_range(lifted)
    marked = _add_mark(lifted, luma, delta, strength, lift_mse, channel_range, config)
    boost_db = 0.0
    while boost_db < config.max_boost_db and not _survives(marked, watermark_id, config):
        boost_db += config.boost_step_db
        boosted = strength * 10.0 ** (boost_db / 20.0)
        marked = _add_mark(lifted, luma, delta, boosted, lift_mse, channel_range, config)
    return marked


def _target_mse(strength: float, config: WatermarkConfig) -> float:
    """RGB mean squared error (grey levels^2) of a mark at this strength."""
    return 255.0 ** 2 * 10.0 ** (-config.target_psnr_db / 10.0) * strength ** 2


def _lifted_blacks(image: np.ndarray, target_mse: float,
                   config: WatermarkConfig) -> tuple[np.ndarray, float]:
    """[H, W, 3] uint8: `image` with channels under `black_lift` raised to it (lowered where
    that would cost more than `black_lift_share` of `target_mse`), and its MSE. Whole grey
    levels, so the marked image is still the lifted one plus a rounded step."""
    lift, allowed = int(config.black_lift), config.black_lift_share * target_mse
    low = image < lift                           # [H, W, 3]: usually few, often none
    if lift <= 0 or not low.any():
        return image, 0.0
    deficit = lift - image[low].astype(np.float32)
    cost = float(np.sum(deficit * deficit)) / image.size
    if cost > allowed:
        # every raised channel moves by at most `lift`: scaling it scales the cost by <= k^2
        lift = int(lift * math.sqrt(allowed / cost))
        deficit = np.maximum(lift - image[low].astype(np.float32), 0.0)
        cost = float(np.sum(deficit * deficit)) / image.size
    return np.maximum(image, np.uint8(lift)), cost


def _balanced_for_shifts(delta: np.ndarray, luma: np.ndarray,
                         config: WatermarkConfig) -> np.ndarray:
    """`delta` [H, W] with the pixels that a brightening (or a darkening) would clip turned
    down, where they would hold more than 1 - `shift_share` of the energy the image keeps of
    the mark (at the target PSNR), until what survives that shift holds `shift_share`. Photos
    and colourful images come back unchanged; `_add_mark` sets the overall gain afterwards.
    With shift_share <= 0.5 at most one of the two shifts can need it."""
    rms = math.sqrt(max(float(np.mean(delta * delta)), 1e-12))
    target_rms = math.sqrt(_target_mse(1.0, config))
    kept = np.clip(luma + delta * (target_rms / rms), 0.0, 255.0) - luma
    energy = kept * kept
    total = float(energy.sum())
    for lost in (luma > 255.0 - config.shift_levels, luma < config.shift_levels):
        lost_energy = float(energy[lost].sum())
        if lost_energy > (1.0 - config.shift_share) * total and lost_energy < total:
            gain = math.sqrt((total - lost_energy) * (1.0 - config.shift_share)
                             / (config.shift_share * lost_energy))
            return np.where(lost, delta * gain, delta)
    return delta


def _add_mark(image: np.ndarray, luma: np.ndarray, delta: np.ndarray, strength: float,
              spent_mse: float, channel_range: tuple[np.ndarray, np.ndarray],
              config: WatermarkConfig) -> np.ndarray:
    """`image` [H, W, 3] uint8 plus `delta` [H, W] reshaped into JPEG steps, at the PSNR
    `strength` asks for, less `spent_mse` already spent on the image (the black lift)."""
    target_mse = _target_mse(strength, config)
    target_mse = max(target_mse - spent_mse, 0.5 * target_mse)
    # What the image keeps of the mark is what clipping at 0 and 255 leaves of it: on a white
    # background the dense part loses its peaks, and the whole JPEG steps are restored after
    # clipping at about twice their energy. Neither is known before the mark is made, so make
    # it, measure what it costs, and where that is off the target make it once more at the
    # budget scaled to fit (cost is close to proportional to budget: within 1 % after).
    budget = target_mse * luma.size
    for _ in range(2):
        mark = quantised_mark(delta, budget, config.jpeg_step_share, config.jpeg_max_step, luma)
        kept = np.clip(luma + mark, 0.0, 255.0) - luma
        cost = float(np.mean(kept * kept))
        if abs(cost - target_mse) <= MARK_COST_TOLERANCE * target_mse:
            break
        budget *= target_mse / max(cost, 1e-12)
    return _add_luma(image, mark, channel_range)


MARK_COST_TOLERANCE = 0.02   # a mark within 2 % of its energy budget (0.09 dB of PSNR) is kept


def _survives(marked: np.ndarray, watermark_id: int, config: WatermarkConfig) -> bool:
    """Does the ID come back, with sync to spare, after each closed-loop attack?"""
    rng = np.random.default_rng(0)
    marked_luma = _luma(marked) if any(a in LUMA_ATTACKS for a in config.closed_loop_attacks) \
        else None
    for name in config.closed_loop_attacks:
        if name in LUMA_ATTACKS:          # JPEG: the luma plane alone, a third of the cost
            reading = _read_luma(LUMA_ATTACKS[name](marked_luma), config)
        else:
            reading = _read(ATTACKS[name](marked, rng), config)
        if reading.sync_z < config.sync_threshold + config.closed_loop_margin:
            return False
        if id_from_message(viterbi_decode(reading.soft_bits)) != watermark_id:
            return False
    return True


# ---------------------------------------------------------------- detection

@dataclass(frozen=True)
class _Reading:
    """What the detector reads off one image at the best sync shift."""
    sync_z: float
    soft_bits: np.ndarray   # [140] float32: positive = raw bit 1
    texture: float          # RMS of the high-pass residual, grey levels (see `_read_luma`)


def _fold(values: np.ndarray, tile: int) -> np.ndarray:
    """[H, W] -> [tile, tile]: the sum of all tiles (zero-padded at the edges), so position p
    collects every pixel congruent to p modulo the tile."""
    height, width = values.shape
    padded = np.zeros((-(-height // tile) * tile, -(-width // tile) * tile), np.float32)
    padded[:height, :width] = values
    return padded.reshape(padded.shape[0] // tile, tile, padded.shape[1] // tile, tile).sum((0, 2))


def _cyclic_correlate(values_fft: np.ndarray, template_fft: np.ndarray, tile: int) -> np.ndarray:
    """out[d] = sum_p template[p] * values[p + d] (cyclic), from the rfft2s of both."""
    return np.fft.irfft2(values_fft * np.conj(template_fft), s=(tile, tile))


def _read(image: np.ndarray, config: WatermarkConfig) -> _Reading:
    return _read_luma(_luma(image), config)


def _read_luma(luma: np.ndarray, config: WatermarkConfig) -> _Reading:
    """Read the mark off an image's luma [H, W] float32 (all the detector looks at)."""
    return _read_luma_and_field(luma, config)[0]


def _read_luma_and_field(luma: np.ndarray, config: WatermarkConfig) -> tuple[_Reading, np.ndarray]:
    """The reading, and the matched residual it was read from (which the search transforms)."""
    field, erased, residual = _matched_field(luma, config)
    sync_z, soft = _read_field(field, config)
    # What the image itself holds, erasures or not, for `_can_tell`, which only looks at it
    # under the sync threshold: only there is the plain residual worth a second blur.
    content = residual
    if erased is not None and sync_z < config.sync_threshold:
        content = luma - gaussian_blur(luma, config.highpass_sigma)
    return _Reading(sync_z, soft, float(np.sqrt(np.mean(content * content)))), field


def _matched_field(luma: np.ndarray, config: WatermarkConfig
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The weighted residual [H, W] float32 the key is correlated with; also the erasures and
    the plain residual (for `_can_tell`)."""
    erased = _erased(luma, config)
    residual, texture = _residual(luma, config, erased)
    # Weight each pixel by the strength the embedder gave it over its noise power (the matched
    # filter): edges, whose residual is mostly content, count for little. The weights depend
    # on the image only, never on the key, so the false-positive bound still holds.
    noise_power = texture ** 2 + config.local_rms_floor ** 2
    weights = _perceptual_mask(luma, texture, config) / noise_power
    return residual * weights, erased, residual


def _read_field(field: np.ndarray, config: WatermarkConfig) -> tuple[float, np.ndarray]:
    """Best sync z over every cyclic shift, and the [140] soft bits at that shift."""
    return _read_folded(_fold(field, config.tile), config)


def _read_folded(folded: np.ndarray, config: WatermarkConfig) -> tuple[float, np.ndarray]:
    """`_read_field` from the folded field [tile, tile]."""
    key = _key(config)
    # g[p]: the folded residual matched to one chip bump centred at p; and the sync score's
    # numerator, the correlation of g with the sync template (the two correlations compose,
    # so both come from one inverse FFT of the folded spectrum).
    chip_response, numerator = np.fft.irfft2(np.fft.rfft2(folded) * key.chip_and_sync_conj,
                                             s=(key.tile, key.tile))
    chip_energy = chip_response * chip_response
    energy = _cyclic_correlate(np.fft.rfft2(chip_energy), key.sync_indicator_fft, key.tile)
    # Floor the energy well under its mean over shifts, so that where float round-off is all
    # there is (a residual nearly all erased), z is not round-off over round-off. A larger
    # denominator only lowers z: the false-positive bound still holds.
    mean_energy = float(np.sum(chip_energy)) * key.sync_chips / key.tile ** 2
    z = numerator / np.sqrt(np.maximum(energy, max(1e-3 * mean_energy, 1e-30)))  # [T, T]
    shift = np.unravel_index(int(np.argmax(z)), z.shape)
    at_chips = chip_response[(key.positions[:, 0] + shift[0]) % key.tile,
                             (key.positions[:, 1] + shift[1]) % key.tile] * key.signs
    payload = key.bit_of_chip >= 0
    soft = np.bincount(key.bit_of_chip[payload], weights=at_chips[payload], minlength=CODED_BITS)
    return float(z[shift]), soft.astype(np.float32)


def _search_reading(image: np.ndarray, config: WatermarkConfig) -> _Reading | None:
    """The reading `detect` would conclude from: the first whose ID passes the CRC at its
    trial's threshold, else the one with the strongest sync; None when the image is too small
    or too flat to read."""
    _check_rgb(image)
    if min(image.shape[:2]) < config.min_side:
        return None
    best, texture = None, None
    for reading, threshold in _readings(image, config):
        texture = reading.texture if texture is None else texture
        if reading.sync_z >= threshold and id_from_message(viterbi_decode(reading.soft_bits)) is not None:
            return reading
        best = reading if best is None or reading.sync_z > best.sync_z else best
    return best if _can_tell(_Reading(best.sync_z, best.soft_bits, texture), config) else None


def _can_tell(reading: _Reading, config: WatermarkConfig) -> bool:
    """A flat image (a white page, a JPEG of one) had nowhere to keep a mark: unless a sync
    shows through anyway, its bits are noise and its absence proves nothing."""
    return reading.texture >= config.min_texture or reading.sync_z >= config.sync_threshold


def decode_channel_bits(image: np.ndarray,
                        config: WatermarkConfig = DEFAULT_CONFIG) -> np.ndarray | None:
    """[140] uint8 raw channel bits read at the best sync shift of the reading `detect`
    concludes from, BEFORE error correction (compare with `channel_bits(id)`); None when the
    image is too small or too flat to read."""
    reading = _search_reading(image, config)
    return None if reading is None else (reading.soft_bits > 0).astype(np.uint8)


def decode_bits(image: np.ndarray, config: WatermarkConfig = DEFAULT_CONFIG) -> np.ndarray | None:
    """[64] uint8 payload bits (48 ID bits, then 16 CRC bits) as decoded, after error
    correction and before the CRC check (compare with `payload_bits(id)` to measure bit
    accuracy); None when the image is too small or too flat to read."""
    reading = _search_reading(image, config)
    return None if reading is None else viterbi_decode(reading.soft_bits)


def detect(image: np.ndarray, config: WatermarkConfig = DEFAULT_CONFIG) -> WatermarkResult:
    """[H, W, 3] uint8 RGB of any size -> found (with the ID), absent, or abstain.

    abstain: too small (under `min_side`), too flat to have kept a mark, or a sync so strong
    that a mark is surely there (`presence_threshold`) but its ID fails the CRC (damaged).
    Reads the image as it is, then (where that finds nothing) each search trial in turn:
    other `scales`, the mirror image, `rotations` undone, `restore_sizes`. Returns the first
    find, else the strongest non-find."""
    _check_rgb(image)
    if min(image.shape[:2]) < config.min_side:
        return WatermarkResult("abstain", None, 0.0)
    misses = []
    texture = None
    for reading, threshold in _readings(image, config):
        texture = reading.texture if texture is None else texture   # the image as it is
        result = _result(reading, threshold, texture, config)
        if result.status == "found":
            return result
        misses.append(result)
    return max(misses, key=lambda r: -math.inf if r.sync_z is None else r.sync_z)


def _readings(image: np.ndarray, config: WatermarkConfig):
    """(reading, threshold) for the image as it is, then for each search trial, made lazily:
    a marked image is found at the first and costs nothing more."""
    first, field = _read_luma_and_field(_luma(image), config)
    yield first, config.sync_threshold
    for scale in config.scales:
        if scale != 1.0:
            rescaled = _rescaled(image, scale)
            if min(rescaled.shape[:2]) >= config.min_side:
                yield _read(rescaled, config), config.search_threshold
    # Mirroring commutes with the (symmetric) filters behind the matched residual and a small
    # turn nearly does, so these trials transform it, not the image: no filtering redone.
    if config.mirror:
        yield _reading_of(_fold(field[:, ::-1], config.tile), first.texture, config), \
            config.search_threshold
    for degrees in config.rotations:
        yield _reading_of(_rotated_fold(field, degrees, config.tile), first.texture, config), \
            config.search_threshold
    height, width = image.shape[:2]
    for size in config.restore_sizes:
        if max(height, width) < size:
            scale = size / max(height, width)
            yield _read(_rescaled(image, scale), config), config.search_threshold


def _reading_of(folded: np.ndarray, texture: float, config: WatermarkConfig) -> _Reading:
    sync_z, soft = _read_folded(folded, config)
    return _Reading(sync_z, soft, texture)


def _rotated_fold(field: np.ndarray, degrees: float, tile: int) -> np.ndarray:
    """`_fold` of the field turned by `degrees` about its centre (bilinear; the corners turned
    in from outside are 0, which the fold reads as no evidence)."""
    from scipy.ndimage import rotate

    return _fold(rotate(field, degrees, reshape=False, order=1, mode="constant", cval=0.0,
                        prefilter=False), tile)


def _rescaled(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def _result(reading: _Reading, threshold: float, texture: float,
            config: WatermarkConfig) -> WatermarkResult:
    # Under the threshold no ID can be "found": skip the Viterbi decode (a search of 12 trials
    # on an unmarked image would spend a third of its time there).
    watermark_id = (id_from_message(viterbi_decode(reading.soft_bits))
                    if reading.sync_z >= threshold else None)
    crc_checked = watermark_id is not None
    confidence = 1.0 - false_positive_bound(reading.sync_z, crc_checked, config)
    if crc_checked and reading.sync_z >= threshold:
        agreement = float(np.mean((reading.soft_bits > 0) == channel_bits(watermark_id)))
        return WatermarkResult("found", watermark_id, confidence, agreement, reading.sync_z)
    damaged = reading.sync_z >= config.presence_threshold
    can_tell = _can_tell(_Reading(reading.sync_z, reading.soft_bits, texture), config)
    status = "abstain" if damaged or not can_tell else "absent"
    return WatermarkResult(status, None, confidence, None, reading.sync_z)
