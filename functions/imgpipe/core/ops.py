"""Effects and overlays applied after the geometry: gray, blur, sharpen, image and text watermarks."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from imgpipe.core.geometry import GRAVITY_ANCHORS


def grayscale(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA"):
        return image.convert("LA")
    return image.convert("L")


def blur(image: Image.Image, sigma: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(sigma)) if sigma > 0 else image


def sharpen(image: Image.Image, amount: float) -> Image.Image:
    """Unsharp mask; `amount` 0..100 maps to 0..300 % strength at a fixed 1 px radius (output scale)."""
    if amount <= 0:
        return image
    return image.filter(ImageFilter.UnsharpMask(radius=1.0, percent=round(amount * 3), threshold=2))


def _margin(size: tuple[int, int]) -> int:
    return max(2, round(min(size) * 0.03))


def _position(canvas: tuple[int, int], item: tuple[int, int], gravity: str) -> tuple[int, int]:
    anchor_x, anchor_y = GRAVITY_ANCHORS[gravity]
    margin = _margin(canvas)
    free_x = max(0, canvas[0] - item[0] - 2 * margin)
    free_y = max(0, canvas[1] - item[1] - 2 * margin)
    return margin + round(free_x * anchor_x), margin + round(free_y * anchor_y)


def overlay_image(
    image: Image.Image, mark: Image.Image, gravity: str, width_fraction: float, opacity: int
) -> Image.Image:
    """Composite `mark` (any mode) scaled to a fraction of the output width at a compass position."""
    target_width = max(1, round(image.width * width_fraction))
    target_height = max(1, round(mark.height * target_width / mark.width))
    scaled = mark.convert("RGBA").resize((target_width, target_height), Image.Resampling.LANCZOS)
    if opacity < 100:
        alpha = scaled.getchannel("A").point(lambda value: value * opacity // 100)
        scaled.putalpha(alpha)
    base = image.convert("RGBA")
    base.alpha_composite(scaled, _position(base.size, scaled.size, gravity))
    return base if image.mode in ("RGBA", "LA") else base.convert("RGB")


def overlay_text(
    image: Image.Image, text: str, gravity: str, size: int, colour: tuple[int, int, int, int]
) -> Image.Image:
    """Draw `text` with Pillow's built-in scalable font and a soft shadow so it reads on any background."""
    font = ImageFont.load_default(size=size)
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = _position(base.size, (round(right - left), round(bottom - top)), gravity)
    origin = (x - round(left), y - round(top))
    shadow_offset = max(1, size // 16)
    draw.text(
        (origin[0] + shadow_offset, origin[1] + shadow_offset),
        text,
        font=font,
        fill=(0, 0, 0, colour[3] // 2),
    )
    draw.text(origin, text, font=font, fill=colour)
    base.alpha_composite(layer)
    return base if image.mode in ("RGBA", "LA") else base.convert("RGB")
