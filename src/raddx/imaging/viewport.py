"""The viewport of a rendered image (PS3.18 8.3.5.1.3): the size of the output and,
optionally, the region of the source image to show in it."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from raddx.errors import InvalidInput

__all__ = ["MAX_ENLARGED_SIDE", "Region", "Viewport"]

#: The longest side an image is enlarged to, whatever the viewport (larger sources keep
#: their size unless the viewport shrinks them).
MAX_ENLARGED_SIDE = 4096


@dataclass(frozen=True, slots=True)
class Region:
    """A region of the source image: top-left ``x``, ``y`` and extent ``width``, ``height``
    in source pixels (``None`` = to the edge); a negative extent flips that axis."""

    x: int = 0
    y: int = 0
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Viewport:
    """At most ``width`` × ``height`` output pixels; the image (or ``region``) is scaled to
    fit, keeping its aspect ratio, so one side equals the viewport's (enlarging stops at
    :data:`MAX_ENLARGED_SIDE`).

    Raises
    ------
    ValueError
        ``width`` or ``height`` below 1.
    """

    width: int
    height: int
    region: Region | None = None

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"viewport {self.width}x{self.height}: both sides must be ≥ 1")

    @classmethod
    def from_query(cls, text: str) -> Viewport:
        """``vw,vh[,sx,sy,sw,sh]`` of the ``viewport`` parameter (PS3.18 8.3.5.1.3); an empty
        region value takes its default.

        Raises
        ------
        InvalidInput
            Not 2 or 6 integers, or a viewport side below 1.
        """
        pieces = [p.strip() for p in text.split(",")]
        if len(pieces) not in (2, 6):
            raise InvalidInput(f"viewport={text!r}: expected vw,vh or vw,vh,sx,sy,sw,sh")
        try:
            numbers = [int(p) if p else None for p in pieces]
        except ValueError:
            raise InvalidInput(f"viewport={text!r}: the values must be integers") from None
        vw, vh = numbers[0], numbers[1]
        if vw is None or vh is None or vw < 1 or vh < 1:
            raise InvalidInput(f"viewport={text!r}: width and height must be at least 1")
        region = None
        if len(numbers) == 6:
            sx, sy, sw, sh = numbers[2:]
            if (sx or 0) < 0 or (sy or 0) < 0 or sw == 0 or sh == 0:
                raise InvalidInput(
                    f"viewport={text!r}: the region offset must be ≥ 0 and its size non-zero"
                )
            region = Region(sx or 0, sy or 0, sw, sh)
        return cls(vw, vh, region)

    def apply(self, image: Image.Image) -> Image.Image:
        """``image`` cut to the region and scaled to fit the viewport.

        Raises
        ------
        InvalidInput
            The region lies (partly) outside the image.
        """
        if self.region is not None:
            image = _cut(image, self.region)
        scale = min(self.width / image.width, self.height / image.height)
        # Never enlarge past MAX_ENLARGED_SIDE: a viewport of 100000×100000 would otherwise
        # make a 10-gigapixel answer out of any image (an easy denial of service).
        scale = min(scale, max(1.0, MAX_ENLARGED_SIDE / max(image.width, image.height)))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if size == image.size:
            return image
        # Lanczos when shrinking (no aliasing in thumbnails), bilinear when enlarging.
        shrink = scale < 1
        return image.resize(size, Image.Resampling.LANCZOS if shrink else Image.Resampling.BILINEAR)


def _cut(image: Image.Image, region: Region) -> Image.Image:
    def span(start: int, extent: int | None, limit: int, axis: str) -> tuple[int, int, bool]:
        extent = limit - start if extent is None else extent
        low, high = (start, start + extent) if extent > 0 else (start + extent, start)
        if low < 0 or high > limit or low >= high:
            raise InvalidInput(
                f"viewport region {axis} {start}..{start + extent} is outside the image "
                f"(0..{limit})"
            )
        return low, high, extent < 0

    left, right, flip_x = span(region.x, region.width, image.width, "x")
    top, bottom, flip_y = span(region.y, region.height, image.height, "y")
    image = image.crop((left, top, right, bottom))
    if flip_x:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if flip_y:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return image
