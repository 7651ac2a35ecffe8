"""Pixel analysis: dominant colour, BlurHash, perceptual hash, focal point — on generated images."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter
from pydantic import ValidationError

from imgpipe.core import analysis
from imgpipe.core.analysis import (
    Analysis,
    analyse,
    blurhash,
    decode_blurhash,
    dominant_colour,
    focal_point,
    hamming,
    perceptual_hash,
)
from imgpipe.core.metrics import delta_e

RED = (220, 30, 30)
BLUE = (30, 50, 220)
GREEN = (40, 180, 60)
GREY = (128, 128, 128)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    assert len(hex_colour) == 7
    assert hex_colour.startswith("#")
    assert hex_colour == hex_colour.lower()
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def _pixel(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    value = image.convert("RGB").getpixel((x, y))
    assert isinstance(value, tuple)
    return value[0], value[1], value[2]


def _split(
    width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int], at: float
) -> Image.Image:
    image = Image.new("RGB", (width, height), left)
    ImageDraw.Draw(image).rectangle((round(width * at), 0, width, height), fill=right)
    return image


def _scene_a(width: int = 480, height: int = 360) -> Image.Image:
    """A diagonal colour gradient with a yellow disc top right and a dark block bottom left."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([40 + 180 * x / width, 60 + 120 * y / height, 200 - 150 * x / width], axis=-1)
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.55, height * 0.15, width * 0.9, height * 0.6), fill=(250, 230, 40))
    draw.rectangle((width * 0.08, height * 0.55, width * 0.4, height * 0.92), fill=(30, 30, 60))
    return image


def _scene_b(width: int = 480, height: int = 360) -> Image.Image:
    """A vertical gradient with a white triangle top left and a dark red disc bottom right."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([200 - 150 * y / height, 90 + 100 * x / width, 60 + 160 * y / height], axis=-1)
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.polygon(
        [(width * 0.1, height * 0.1), (width * 0.45, height * 0.1), (width * 0.1, height * 0.7)],
        fill=(240,) * 3,
    )
    draw.ellipse((width * 0.5, height * 0.5, width * 0.95, height * 0.95), fill=(120, 20, 20))
    return image


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def _busy_patch(size: int, seed: int = 3) -> Image.Image:
    """A checkerboard of saturated colours with noise on top: as much detail as a patch can hold."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    checks = ((x // 4 + y // 4) % 2).astype(bool)
    pixels = np.where(checks[..., None], np.array([255, 40, 0]), np.array([0, 80, 255])).astype(np.float64)
    pixels += rng.normal(0, 30, size=pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


# --- dominant colour ----------------------------------------------------------------------------


def test_dominant_colour_is_the_biggest_cluster_not_the_mean() -> None:
    # Given an image that is 70 % red and 30 % blue
    image = _split(400, 300, RED, BLUE, at=0.7)
    # When its dominant colour is taken
    colour = _rgb(dominant_colour(image))
    # Then it is red (a mean would be a purple far from both)
    assert delta_e(colour, RED) < 10
    assert delta_e(colour, BLUE) > 50


def test_dominant_colour_of_a_noisy_photo_is_the_main_colour() -> None:
    # Given 55 % noisy green and 45 % noisy blue, too noisy for any two pixels to be equal
    rng = np.random.default_rng(11)
    base = np.asarray(_split(300, 200, GREEN, BLUE, at=0.55), dtype=np.float64)
    noisy = np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)
    # When its dominant colour is taken
    colour = _rgb(dominant_colour(Image.fromarray(noisy, "RGB")))
    # Then it is the green cluster's centre
    assert delta_e(colour, GREEN) < 10


def test_dominant_colour_ignores_transparent_pixels() -> None:
    # Given an RGBA image that is 75 % fully transparent blue and 25 % opaque green,
    # with a near-transparent red band as well
    image = Image.new("RGBA", (400, 300), (*BLUE, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((300, 0, 400, 300), fill=(*GREEN, 255))
    draw.rectangle((0, 0, 200, 300), fill=(*RED, 20))
    # When its dominant colour is taken
    colour = _rgb(dominant_colour(image))
    # Then only the opaque green counts
    assert delta_e(colour, GREEN) < 10


def test_dominant_colour_of_a_fully_transparent_image_is_white() -> None:
    # Given an image with nothing opaque
    image = Image.new("RGBA", (50, 50), (*RED, 0))
    # When / Then the colour is the white shown under transparency
    assert dominant_colour(image) == "#ffffff"


# --- BlurHash -----------------------------------------------------------------------------------


def test_blurhash_matches_the_reference_encoding() -> None:
    # Given the 5 × 5 grey ramp (value = 0..24, row by row) used as an example for BlurHash encoders
    ramp = np.arange(25, dtype=np.uint8).reshape(5, 5)
    image = Image.fromarray(np.stack([ramp] * 3, axis=-1), "RGB")
    # When it is encoded with 4 × 4 components
    # Then it is the hash the reference algorithm gives
    assert blurhash(image, 4, 4) == "U01fC^t7WB%MIUWBayWBIUWBfQWB%Mj[ayof"


@pytest.mark.parametrize(("nx", "ny", "length"), [(4, 3, 28), (1, 1, 6), (9, 9, 166), (3, 4, 28)])
def test_blurhash_length_follows_the_component_count(nx: int, ny: int, length: int) -> None:
    # Given a scene
    image = _scene_a()
    # When it is hashed with nx × ny components
    value = blurhash(image, nx, ny)
    # Then the length is 6 + 2 per AC component, and it decodes
    assert len(value) == length
    assert decode_blurhash(value, 8, 6).size == (8, 6)


def test_blurhash_defaults_to_4_by_3() -> None:
    # Given / When a scene is hashed with the defaults
    value = blurhash(_scene_b())
    # Then it is 28 characters whose size flag says 4 × 3
    assert len(value) == 28
    assert value[0] == "L"  # (4 - 1) + (3 - 1) × 9 = 21 = "L" in base 83


def test_blurhash_round_trip_looks_like_a_heavy_blur() -> None:
    # Given a scene, and the same scene heavily blurred
    image = _scene_a()
    small = image.resize((64, 48), Image.Resampling.BOX)
    blurred = np.asarray(small.filter(ImageFilter.GaussianBlur(8)), dtype=np.float64)
    flat = np.broadcast_to(np.asarray(small, dtype=np.float64).mean(axis=(0, 1)), blurred.shape)
    # When the hash is decoded at that size
    decoded = np.asarray(decode_blurhash(blurhash(image), 64, 48), dtype=np.float64)
    # Then it is close to the blur, much closer than a flat average colour would be
    error = float(np.abs(decoded - blurred).mean())
    assert error < 20
    assert error < 0.5 * float(np.abs(flat - blurred).mean()) + 2


@pytest.mark.parametrize("colour", [RED, BLUE, GREY, (250, 240, 200), (10, 10, 12)])
def test_blurhash_of_a_solid_colour_round_trips(colour: tuple[int, int, int]) -> None:
    # Given a solid colour
    image = Image.new("RGB", (120, 80), colour)
    # When it is hashed and decoded
    decoded = decode_blurhash(blurhash(image), 12, 8)
    # Then every pixel is that colour within ΔE 3
    for x, y in [(0, 0), (6, 4), (11, 7)]:
        assert delta_e(_pixel(decoded, x, y), colour) < 3


def test_blurhash_keeps_left_and_right_apart() -> None:
    # Given red on the left half and blue on the right
    image = _split(300, 200, RED, BLUE, at=0.5)
    # When hashed and decoded
    decoded = decode_blurhash(blurhash(image), 40, 20)
    left, right = _pixel(decoded, 3, 10), _pixel(decoded, 36, 10)
    # Then the left is red and the right is blue
    assert left[0] > 150
    assert left[0] > left[2] + 80
    assert right[2] > 150
    assert right[2] > right[0] + 80


def test_blurhash_of_rgba_sees_the_image_over_white() -> None:
    # Given a fully transparent image whose hidden colour is black
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    # When hashed and decoded
    decoded = decode_blurhash(blurhash(image), 4, 4)
    # Then it is white, as it is shown
    assert delta_e(_pixel(decoded, 2, 2), (255, 255, 255)) < 3


@pytest.mark.parametrize(
    "bad", ["", "L", "LEHV6nWB2yk8pyo0adR*.7kCMdn", "LEHV6nWB2yk8pyo0adR*.7kCMdnjj", 'L"HV6n']
)
def test_decode_blurhash_rejects_malformed_hashes(bad: str) -> None:
    # Given a truncated, over-long or non-base-83 hash / When decoded / Then it is a ValueError
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the defect
        decode_blurhash(bad, 8, 8)


@pytest.mark.parametrize(("nx", "ny"), [(0, 3), (10, 3), (4, 0), (4, 10)])
def test_blurhash_rejects_component_counts_outside_1_to_9(nx: int, ny: int) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="between 1 and 9"):
        blurhash(_scene_a(64, 48), nx, ny)


# --- perceptual hash ----------------------------------------------------------------------------


def test_phash_is_16_lowercase_hex_digits_and_deterministic() -> None:
    # Given a scene / When hashed twice
    first, second = perceptual_hash(_scene_a()), perceptual_hash(_scene_a())
    # Then it is the same 64-bit value in lowercase hex
    assert first == second
    assert len(first) == 16
    assert first == first.lower()
    int(first, 16)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(
            lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), id="half-size"
        ),
        pytest.param(lambda im: _jpeg(im, 60), id="jpeg-q60"),
        pytest.param(lambda im: ImageEnhance.Brightness(im).enhance(1.1), id="brighter"),
        pytest.param(lambda im: im.convert("RGBA"), id="rgba"),
    ],
)
def test_phash_survives_resizing_recompression_and_brightening(variant: object) -> None:
    # Given a scene and a lightly altered copy
    image = _scene_a()
    assert callable(variant)
    altered = variant(image)
    # When both are hashed
    distance = hamming(perceptual_hash(image), perceptual_hash(altered))
    # Then they are near-duplicates
    assert distance <= 6


def test_phash_tells_different_images_apart() -> None:
    # Given two scenes with different shapes and gradients
    a, b = _scene_a(), _scene_b()
    # When both are hashed / Then they are far apart
    assert hamming(perceptual_hash(a), perceptual_hash(b)) >= 20
    flipped = a.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    assert hamming(perceptual_hash(a), perceptual_hash(flipped)) >= 20


def test_hamming_counts_differing_bits() -> None:
    # Given / When / Then
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("0000000000000000", "ffffffffffffffff") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError, match="length"):
        hamming("00", "000")


# --- focal point --------------------------------------------------------------------------------


def test_focal_point_finds_a_detailed_patch_in_the_top_right() -> None:
    # Given flat grey with a small busy, colourful patch in the top-right corner
    image = Image.new("RGB", (400, 300), GREY)
    image.paste(_busy_patch(60), (310, 30))
    # When the focal point is estimated
    x, y = focal_point(image)
    # Then it is inside the top-right quadrant, near the patch
    assert x > 0.5
    assert y < 0.5
    assert abs(x - 340 / 400) < 0.1
    assert abs(y - 60 / 300) < 0.1


def test_focal_point_finds_a_patch_in_the_bottom_left_too() -> None:
    # Given the same patch bottom left on a larger, landscape image
    image = Image.new("RGB", (1200, 600), GREY)
    image.paste(_busy_patch(120), (60, 420))
    # When / Then
    x, y = focal_point(image)
    assert x < 0.5
    assert y > 0.5


def test_focal_point_of_a_symmetric_image_is_the_centre() -> None:
    # Given a grey image with the same busy patch in all four corners and a ring in the middle
    image = Image.new("RGB", (400, 300), GREY)
    patch = _busy_patch(50)
    for box in [(0, 0), (350, 0), (0, 250), (350, 250)]:
        image.paste(patch, box)
    ImageDraw.Draw(image).ellipse((150, 100, 250, 200), outline=(250, 250, 0), width=6)
    # When the focal point is estimated
    x, y = focal_point(image)
    # Then it is the centre
    assert abs(x - 0.5) < 0.03
    assert abs(y - 0.5) < 0.03


def test_focal_point_of_a_flat_image_is_exactly_the_centre() -> None:
    # Given / When / Then
    assert focal_point(Image.new("RGB", (300, 200), GREY)) == (0.5, 0.5)


def test_focal_point_gives_transparent_areas_no_weight() -> None:
    # Given a transparent image whose hidden colours are loud noise, with one opaque busy patch
    rng = np.random.default_rng(9)
    hidden = rng.integers(0, 256, size=(300, 400, 4), dtype=np.uint8)
    hidden[..., 3] = 0
    image = Image.fromarray(hidden, "RGBA")
    image.paste(_busy_patch(60).convert("RGBA"), (300, 200))
    # When the focal point is estimated
    x, y = focal_point(image)
    # Then only the visible patch counts
    assert abs(x - 330 / 400) < 0.1
    assert abs(y - 230 / 300) < 0.1


def test_focal_point_is_deterministic_and_in_range() -> None:
    # Given a textured scene
    image = _scene_b()
    # When estimated twice
    first, second = focal_point(image), focal_point(image.copy())
    # Then the answers agree and lie in 0..1
    assert first == second
    assert all(0.0 <= v <= 1.0 for v in first)


# --- analyse ------------------------------------------------------------------------------------


def test_analyse_matches_the_single_measures_and_downscales_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a 2000 × 1500 scene, and a counter on the shared downscale
    image = _scene_a(2000, 1500)
    expected = (dominant_colour(image), blurhash(image), perceptual_hash(image), focal_point(image))
    calls: list[tuple[int, int]] = []
    real = analysis._thumbnail

    def counting(img: Image.Image, edge: int = analysis.ANALYSIS_EDGE) -> analysis._Thumb:
        calls.append(img.size)
        return real(img, edge)

    monkeypatch.setattr(analysis, "_thumbnail", counting)
    # When analysed
    result = analyse(image)
    # Then it downscaled once and agrees with each measure on its own
    assert calls == [(2000, 1500)]
    assert (result.dominant_colour, result.blurhash, result.phash, result.focal_point) == expected


def test_analysis_is_frozen() -> None:
    # Given an analysis
    result = analyse(_scene_b(64, 48))
    # When a field is assigned / Then pydantic refuses
    with pytest.raises(ValidationError):
        result.phash = "0" * 16  # type: ignore[misc]
    assert isinstance(result, Analysis)


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(Image.new("RGB", (1, 1), RED), id="1x1"),
        pytest.param(Image.new("RGB", (4000, 3), BLUE), id="4000x3"),
        pytest.param(Image.new("L", (50, 40), 90), id="mode-L"),
        pytest.param(Image.new("LA", (50, 40), (90, 200)), id="mode-LA"),
        pytest.param(Image.new("P", (50, 40), 3), id="mode-P"),
    ],
)
def test_analyse_copes_with_odd_shapes_and_modes(image: Image.Image) -> None:
    # Given a tiny, extremely elongated or non-RGB image / When analysed
    result = analyse(image)
    # Then every measure has its normal shape
    assert len(result.dominant_colour) == 7
    assert len(result.blurhash) == 28
    assert len(result.phash) == 16
    assert all(0.0 <= v <= 1.0 for v in result.focal_point)


def test_analyse_is_fast_on_a_camera_sized_image() -> None:
    # Given a 2000 × 1500 textured image (3 MP)
    rng = np.random.default_rng(5)
    image = Image.fromarray(rng.integers(0, 256, size=(1500, 2000, 3), dtype=np.uint8), "RGB")
    analyse(image)
    # When analysed a few times
    best = min(_timed(lambda: analyse(image)) for _ in range(3))
    # Then the best run is well inside the budget (30 ms measured at about 11 ms; generous for CI)
    assert best < 0.15


def _timed(action: object) -> float:
    assert callable(action)
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
