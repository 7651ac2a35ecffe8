"""The q scale: calibrated tables, interpolation, clamping, dpr rule, and one q meaning one SSIM."""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from imgpipe.core.metrics import ssim
from imgpipe.core.quality import (
    ANCHORS,
    AVIF_MAX_THREADS,
    AVIF_QUALITY,
    AVIF_SPEED,
    DEFAULT_QUALITY,
    DPR_FLOOR,
    JPEG_444_FROM,
    PNG_COMPRESS_LEVEL,
    WEBP_METHOD,
    WEBP_QUALITY,
    effective_quality,
    encoder_options,
    native_quality,
)

Lossy = Literal["jpeg", "webp", "avif"]
LOSSY: tuple[Lossy, ...] = ("jpeg", "webp", "avif")
PILLOW_NAME = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "png": "PNG", "gif": "GIF"}
TABLES: dict[Lossy, tuple[int, ...]] = {"jpeg": ANCHORS, "webp": WEBP_QUALITY, "avif": AVIF_QUALITY}


def quality_of(fmt: Lossy, q: int | None, dpr: float = 1.0) -> int:
    value = encoder_options(fmt, q, dpr=dpr)["quality"]
    assert isinstance(value, int)
    return value


def drawn_scene(width: int = 480, height: int = 320, seed: int = 3) -> Image.Image:
    """A drawn landscape with what downscaled photos have: smooth gradients, hard edges, thin lines, text
    and fine but spatially correlated texture. (Independent per-pixel noise is unlike a downscaled camera
    photo and makes the formats disagree far more than on real photos; see the calibration report.)"""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    sky = np.stack([90 + 100 * y / height, 140 + 60 * y / height, 220 - 40 * x / width], axis=-1)
    image = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, height), (width * 0.3, height * 0.45), (width * 0.6, height)], fill=(70, 90, 60))
    draw.polygon([(width * 0.35, height), (width * 0.75, height * 0.35), (width, height)], fill=(95, 85, 70))
    draw.ellipse((width * 0.72, height * 0.08, width * 0.86, height * 0.29), fill=(250, 230, 150))
    for i in range(40):
        x0 = int(rng.integers(0, width))
        y0 = int(rng.integers(height // 2, height))
        draw.line(
            (x0, y0, x0 + int(rng.integers(-12, 12)), y0 - int(rng.integers(8, 40))), fill=(30, 60 + i, 30)
        )
    draw.rectangle((40, 40, 150, 110), outline=(200, 30, 30), width=3)
    draw.text((52, 62), "imgpipe q=80", fill=(20, 20, 20))
    grain = Image.fromarray(
        np.clip(128 + rng.normal(0, 40, size=(height, width)), 0, 255).astype(np.uint8), "L"
    )
    texture = np.asarray(grain.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float64) - 128
    pixels = np.asarray(image, dtype=np.float64) + 0.5 * texture[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def roundtrip(image: Image.Image, fmt: str, options: dict[str, object]) -> Image.Image:
    out = io.BytesIO()
    image.save(out, PILLOW_NAME[fmt], **options)
    with Image.open(io.BytesIO(out.getvalue())) as decoded:
        return decoded.convert("RGB")


# ------------------------------------------------------------------------------------------- tables


def test_tables_line_up_with_the_anchors() -> None:
    assert len(WEBP_QUALITY) == len(AVIF_QUALITY) == len(ANCHORS)
    assert list(ANCHORS) == sorted(set(ANCHORS))
    for table in (WEBP_QUALITY, AVIF_QUALITY):
        assert list(table) == sorted(table)
        assert all(1 <= value <= 100 for value in table)


@pytest.mark.parametrize("fmt", LOSSY)
def test_anchor_values_are_reproduced_exactly(fmt: Lossy) -> None:
    for anchor, native in zip(ANCHORS, TABLES[fmt], strict=True):
        assert quality_of(fmt, anchor) == native


@pytest.mark.parametrize("fmt", LOSSY)
def test_native_quality_never_falls_as_q_rises(fmt: Lossy) -> None:
    values = [quality_of(fmt, q) for q in range(1, 101)]
    assert values == sorted(values)
    assert values[-1] > values[0]


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_between_anchors_the_mapping_is_linear(fmt: Lossy) -> None:
    table = TABLES[fmt]
    for i in range(1, len(ANCHORS)):
        lo, hi = ANCHORS[i - 1], ANCHORS[i]
        for q in range(lo, hi + 1):
            expected = table[i - 1] + (table[i] - table[i - 1]) * (q - lo) / (hi - lo)
            assert native_quality(fmt, q) == math.floor(expected + 0.5)


def test_jpeg_quality_is_q_itself() -> None:
    assert [quality_of("jpeg", q) for q in range(1, 101)] == list(range(1, 101))


@pytest.mark.parametrize("fmt", LOSSY)
def test_q_is_clamped_at_1_and_100(fmt: Lossy) -> None:
    assert quality_of(fmt, 0) == quality_of(fmt, -20) == quality_of(fmt, 1)
    assert quality_of(fmt, 101) == quality_of(fmt, 1000) == quality_of(fmt, 100)


@pytest.mark.parametrize(("fmt", "table"), [("webp", WEBP_QUALITY), ("avif", AVIF_QUALITY)])
def test_outside_the_calibrated_range_the_end_anchors_hold(fmt: Lossy, table: tuple[int, ...]) -> None:
    assert {quality_of(fmt, q) for q in range(1, ANCHORS[0] + 1)} == {table[0]}
    assert {quality_of(fmt, q) for q in range(ANCHORS[-1], 101)} == {table[-1]}


def test_absent_q_means_the_default() -> None:
    assert DEFAULT_QUALITY == 80
    for fmt in LOSSY:
        assert encoder_options(fmt, None) == encoder_options(fmt, DEFAULT_QUALITY)


# ------------------------------------------------------------------------------------- per format


def test_jpeg_options() -> None:
    low = encoder_options("jpeg", JPEG_444_FROM - 1)
    high = encoder_options("jpeg", JPEG_444_FROM)
    assert low["subsampling"] == "4:2:0"
    assert high["subsampling"] == "4:4:4"
    assert set(low) == {"quality", "subsampling", "progressive", "optimize"}


def test_webp_and_avif_carry_their_effort() -> None:
    assert encoder_options("webp", 80) == {"quality": WEBP_QUALITY[ANCHORS.index(80)], "method": WEBP_METHOD}
    avif = encoder_options("avif", 80)
    assert avif == {"quality": AVIF_QUALITY[ANCHORS.index(80)], "speed": AVIF_SPEED, "max_threads": 2}
    assert AVIF_MAX_THREADS == 2


def test_lossless_formats_ignore_q() -> None:
    assert (
        encoder_options("png", 10) == encoder_options("png", None) == {"compress_level": PNG_COMPRESS_LEVEL}
    )
    assert encoder_options("gif", 10, dpr=3) == {}


def test_each_call_returns_a_fresh_dict() -> None:
    first = encoder_options("webp", 80)
    first["quality"] = 1
    assert encoder_options("webp", 80)["quality"] != 1


# -------------------------------------------------------------------------------------------- dpr


@pytest.mark.parametrize(
    ("q", "dpr", "expected"),
    [
        (80, 1.0, 80),
        (80, 0.5, 80),
        (80, 1.5, 75),
        (80, 2.0, 70),
        (80, 2.5, 68),
        (80, 3.0, 65),
        (80, 4.0, 65),
        (95, 2.0, 85),
        (35, 3.0, DPR_FLOOR),
        (DPR_FLOOR, 3.0, DPR_FLOOR),
        (20, 4.0, 20),
        (None, 2.0, DEFAULT_QUALITY - 10),
    ],
)
def test_dense_screens_lower_q(q: int | None, dpr: float, expected: int) -> None:
    assert effective_quality(q, dpr) == expected
    assert quality_of("jpeg", q, dpr) == expected


@pytest.mark.parametrize("fmt", LOSSY)
def test_dpr_never_raises_quality(fmt: Lossy) -> None:
    for q in range(1, 101, 3):
        assert [quality_of(fmt, q, d) for d in (1.0, 1.5, 2.0, 3.0, 4.0)] == sorted(
            (quality_of(fmt, q, d) for d in (1.0, 1.5, 2.0, 3.0, 4.0)), reverse=True
        )


def test_dpr_moves_webp_and_avif_along_their_tables() -> None:
    assert encoder_options("webp", 80, dpr=2) == encoder_options("webp", 70)
    assert encoder_options("avif", 95, dpr=3) == encoder_options("avif", 80)


# -------------------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "png", "gif"])
def test_pillow_accepts_the_options(fmt: Literal["jpeg", "webp", "avif", "png", "gif"]) -> None:
    image = drawn_scene(64, 48)
    if fmt == "gif":
        image = image.quantize(64)
    out = io.BytesIO()
    image.save(out, PILLOW_NAME[fmt], **encoder_options(fmt, 75))
    assert out.tell() > 0


def test_one_q_means_one_ssim_across_formats() -> None:
    scene = drawn_scene()
    scores = {fmt: ssim(scene, roundtrip(scene, fmt, encoder_options(fmt, 80))) for fmt in LOSSY}
    assert max(scores.values()) - min(scores.values()) <= 0.02, scores
    assert all(0.94 < score < 0.99 for score in scores.values()), scores  # photo-like, as on the corpus


def test_higher_q_is_closer_to_the_source_in_every_format() -> None:
    scene = drawn_scene()
    for fmt in LOSSY:
        low, high = (ssim(scene, roundtrip(scene, fmt, encoder_options(fmt, q))) for q in (40, 90))
        assert high > low, fmt
