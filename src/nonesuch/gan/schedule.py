"""Where training is, as a pure function of how many real images D has seen.

ProGAN's official schedule (not the iteration-counting one many ports use): at 4 px the networks
train for `stable_images`; each later resolution first fades in over `fade_images` (alpha rises
linearly 0 -> 1) and then stabilises for `stable_images`. Because the stage depends only on the
image count, a resumed run is at exactly the stage it stopped at.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    index: int         # 0 = stabilise 4 px, 1 = fade in 8 px, 2 = stabilise 8 px, ...
    kind: str          # "fade" or "stable"
    resolution: int    # px of the images G makes and D sees
    alpha: float       # weight of the newest block, 1.0 outside fades
    start: int         # images seen when this stage began
    end: int           # images seen when it ends

    @property
    def name(self) -> str:
        return f"{self.kind} {self.resolution}px"


@dataclass(frozen=True)
class Schedule:
    resolution: int     # final resolution, px
    fade_images: int    # images shown while each new resolution fades in
    stable_images: int  # images shown at each resolution once it is fully in
    grown: bool = False # start at full size (fine-tuning a grown generator): one stable stage

    def stages(self) -> list[tuple[str, int, int]]:
        """(kind, resolution, length in images) in order."""
        if self.grown:
            return [("stable", self.resolution, self.stable_images)]
        out = [("stable", 4, self.stable_images)]
        r = 8
        while r <= self.resolution:
            out += [("fade", r, self.fade_images), ("stable", r, self.stable_images)]
            r *= 2
        return [s for s in out if s[2] > 0]

    @property
    def total_images(self) -> int:
        return sum(length for _, _, length in self.stages())

    def at(self, images_seen: int) -> Stage:
        """The stage for the next step; past the end, the last stage with alpha 1."""
        start = 0
        stages = self.stages()
        for index, (kind, resolution, length) in enumerate(stages):
            if images_seen < start + length or index == len(stages) - 1:
                alpha = min(max((images_seen - start) / length, 0.0), 1.0) if kind == "fade" else 1.0
                return Stage(index, kind, resolution, alpha, start, start + length)
            start += length
        raise AssertionError("unreachable")
