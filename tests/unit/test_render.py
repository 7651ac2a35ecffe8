"""Rendering: every operation and parameter checked on dimensions, modes, formats and pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFile, ImageFilter, ImageStat

from imgpipe.core import Limits, Rejected, Rendered, RenderOptions, SpecError, render, render_many
from imgpipe.core.metrics import delta_e, ssim
from tests.builders import (
    BLUE,
    GREEN,
    RED,
    YELLOW,
    animated_gif,
    colour_at,
    colour_card,
    encode,
    expected_srgb,
    hand_gif,
    icc_profile,
    oriented,
    photo_like,
    with_gps,
)

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def decoded(rendered: Rendered) -> Image.Image:
    image = Image.open(io.BytesIO(rendered.data))
    image.load()
    return image


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: float = 8.0) -> bool:
    return delta_e(actual[:3], expected[:3]) < tolerance  # type: ignore[arg-type]


# --- orientation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_every_exif_orientation_comes_out_upright(orientation: int, fmt: str) -> None:
    # Given a test card stored turned/mirrored with the matching EXIF orientation
    data = oriented(colour_card(400, 300), orientation, fmt, **({"quality": 95} if fmt != "PNG" else {}))
    # When rendered at 200 px wide
    image = decoded(render(data, "w=200&fm=png"))
    # Then it is upright exactly once: red left, blue right, green top, yellow bottom
    assert image.size == (200, 150)
    assert close(colour_at(image, 0.25, 0.5), RED)
    assert close(colour_at(image, 0.75, 0.5), BLUE)
    assert close(colour_at(image, 0.5, 0.03), GREEN)
    assert close(colour_at(image, 0.5, 0.97), YELLOW)


def test_orientation_is_known_before_shrink_on_load() -> None:
    # Given a 3000 × 2000 photo stored portrait-on-its-side (orientation 6) as JPEG
    data = oriented(photo_like(3000, 2000), 6, "JPEG", quality=90)
    # When asked for 400 px wide
    rendered = render(data, "w=400&fm=jpeg")
    # Then DCT scaling was used and the output is landscape at full quality
    assert (rendered.width, rendered.height) == (400, 267)
    assert any(op.startswith("shrink-on-load") for op in rendered.operations)
    reference = photo_like(3000, 2000).resize((400, 267), Image.Resampling.LANCZOS)
    assert ssim(decoded(rendered), reference) > 0.9


# --- colour --------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", ["display-p3", "adobe-rgb"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_wide_gamut_sources_are_converted_to_srgb(space: str, fmt: str) -> None:
    # Given a flat colour tagged with a wide-gamut profile
    colour = (200, 100, 50)
    data = encode(
        Image.new("RGB", (64, 64), colour),
        fmt,
        icc_profile=icc_profile(space),
        **({"quality": 98} if fmt == "JPEG" else {}),
    )
    # When rendered to PNG
    rendered = render(data, "w=32&fm=png")
    # Then the pixels are what that colour looks like in sRGB, and no profile is left in the output
    image = decoded(rendered)
    assert delta_e(colour_at(image, 0.5, 0.5), expected_srgb(colour, space)) < 2.0  # type: ignore[arg-type]
    assert "icc_profile" not in image.info
    assert any(op.startswith("icc:") for op in rendered.operations)


def test_cmyk_without_profile_becomes_rgb() -> None:
    # Given a CMYK JPEG of pure magenta+yellow (red) without a profile
    data = encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)
    # When rendered
    image = decoded(render(data, "fm=png"))
    # Then it is red sRGB
    assert image.mode == "RGB"
    assert close(colour_at(image, 0.5, 0.5), (255, 0, 0), 6)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    # Given a 16-bit greyscale PNG at half intensity
    data = encode(Image.new("I;16", (32, 32), 32768), "PNG")
    # When rendered / Then the grey is mid grey, not white
    value = colour_at(decoded(render(data, "fm=png")), 0.5, 0.5)
    assert 120 <= value[0] <= 136


def test_no_metadata_survives_and_gps_never_does() -> None:
    # Given a JPEG with camera EXIF and GPS
    data = with_gps(photo_like(300, 200))
    for fmt in ("jpeg", "webp", "avif", "png"):
        # When rendered to each format
        out = render(data, f"w=100&fm={fmt}").data
        # Then no EXIF block, no GPS and no maker text remains
        image = Image.open(io.BytesIO(out))
        assert not image.getexif(), fmt
        assert b"TestMaker" not in out and b"GPS" not in out


def test_copyright_is_the_only_metadata_written_when_configured() -> None:
    data = with_gps(photo_like(300, 200))
    out = render(data, "w=100&fm=jpeg", options=RenderOptions(copyright="(c) imgpipe tests")).data
    exif = Image.open(io.BytesIO(out)).getexif()
    assert dict(exif) == {0x8298: "(c) imgpipe tests"}


# --- geometry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ("w=300", (300, 200)),
        ("h=100", (150, 100)),
        ("w=300&h=300", (300, 200)),
        ("w=300&h=300&fit=cover", (300, 300)),
        ("w=300&h=300&fit=contain", (300, 300)),
        ("w=300&h=100&fit=fill", (300, 100)),
        ("w=2000", (600, 400)),
        ("w=1200&up=1", (1200, 800)),
        ("w=200&dpr=2", (400, 267)),
        ("w=100&dpr=3.5", (350, 233)),
    ],
)
def test_output_dimensions(query: str, size: tuple[int, int]) -> None:
    # Given a 600 × 400 photo / When rendered with the query / Then the output has the size
    rendered = render(encode(photo_like(600, 400), "PNG"), query + "&fm=png")
    assert (rendered.width, rendered.height) == size
    assert decoded(rendered).size == size


def test_downscale_is_faithful_to_a_full_lanczos_reference() -> None:
    # Given a large photo-like JPEG
    source = photo_like(2400, 1600)
    data = encode(source, "JPEG", quality=95)
    # When rendered to 600 px through shrink-on-load
    image = decoded(render(data, "w=600&fm=png"))
    # Then it matches a full-decode Lanczos resize closely
    reference = Image.open(io.BytesIO(data)).convert("RGB").resize(image.size, Image.Resampling.LANCZOS)
    assert ssim(image, reference) > 0.97


@pytest.mark.parametrize(
    ("gravity", "expected"),
    [("w", RED), ("e", BLUE), ("center", None)],
)
def test_cover_gravity_chooses_the_kept_side(gravity: str, expected: tuple[int, int, int] | None) -> None:
    # Given a wide red|blue card covered into a square
    data = encode(colour_card(800, 200), "PNG")
    image = decoded(render(data, f"w=100&h=100&fit=cover&g={gravity}&fm=png"))
    # Then the west crop is red, the east crop blue, the centre both
    if expected:
        assert close(colour_at(image, 0.5, 0.5), expected)
    else:
        assert close(colour_at(image, 0.1, 0.5), RED) and close(colour_at(image, 0.9, 0.5), BLUE)


def test_focal_point_and_auto_gravity_follow_the_subject() -> None:
    # Given a flat grey wide image with a detailed, saturated subject near the right edge
    canvas = Image.new("RGB", (1200, 400), (128, 128, 128))
    subject = photo_like(200, 200, seed=3).filter(ImageFilter.DETAIL)
    canvas.paste(subject, (950, 100))
    ImageDraw.Draw(canvas).ellipse((1000, 150, 1100, 250), fill=(255, 0, 200))
    data = encode(canvas, "PNG")
    # When covered into a square by fp and by g=auto
    by_point = decoded(render(data, "w=200&h=200&fit=cover&fp=0.875,0.5&fm=png"))
    by_saliency = decoded(render(data, "w=200&h=200&fit=cover&g=auto&fm=png"))
    centred = decoded(render(data, "w=200&h=200&fit=cover&fm=png"))
    # Then both keep the magenta subject, which a centred crop loses
    magenta = (255, 0, 200)
    assert close(colour_at(by_point, 0.5, 0.5), magenta, 12)
    assert any(close(colour_at(by_saliency, x / 10, 0.5), magenta, 12) for x in range(1, 10))
    assert not any(close(colour_at(centred, x / 10, 0.5), magenta, 12) for x in range(1, 10))


def test_focal_point_recorded_at_ingest_is_used_by_auto() -> None:
    data = encode(colour_card(800, 200), "PNG")
    options = RenderOptions(focal_point=(0.95, 0.5))
    image = decoded(render(data, "w=100&h=100&fit=cover&g=auto&fm=png", options=options))
    assert close(colour_at(image, 0.5, 0.5), BLUE)


def test_crop_selects_a_region_of_the_upright_source() -> None:
    # Given the test card stored with orientation 3 (upside down)
    data = oriented(colour_card(400, 300), 3, "PNG")
    # When the top-left quarter (upright coordinates) is cropped
    image = decoded(render(data, "crop=0,40,200,100&fm=png"))
    # Then it is all red and 200 × 100
    assert image.size == (200, 100)
    assert close(colour_at(image, 0.1, 0.5), RED) and close(colour_at(image, 0.9, 0.5), RED)


def test_a_crop_outside_the_image_is_a_bad_parameter() -> None:
    with pytest.raises(SpecError) as caught:
        render(encode(colour_card(400, 300), "PNG"), "crop=500,0,10,10")
    assert caught.value.param == "crop"


@pytest.mark.parametrize(
    ("query", "left", "top"),
    [
        ("rot=90", GREEN, RED),  # clockwise: what was the top is now on the right... left side was bottom
        ("rot=180", BLUE, YELLOW),
        ("rot=270", YELLOW, BLUE),
        ("flip=h", BLUE, GREEN),
        ("flip=v", RED, YELLOW),
    ],
)
def test_rotations_and_flips(query: str, left: tuple[int, int, int], top: tuple[int, int, int]) -> None:
    # Given the test card / When rotated or flipped
    image = decoded(render(encode(colour_card(400, 300), "PNG"), query + "&fm=png"))
    # Then the colours land where the transformation puts them
    if query == "rot=90":
        assert image.size == (300, 400)
        assert close(colour_at(image, 0.03, 0.5), YELLOW) and close(colour_at(image, 0.5, 0.25), RED)
        return
    if query == "rot=270":
        assert image.size == (300, 400)
        assert close(colour_at(image, 0.97, 0.5), YELLOW) and close(colour_at(image, 0.5, 0.25), BLUE)
        return
    assert close(colour_at(image, 0.25, 0.5), left)
    assert close(colour_at(image, 0.5, 0.03), top)


# --- effects -------------------------------------------------------------------------------------


def test_gray_removes_colour() -> None:
    image = decoded(render(encode(colour_card(), "PNG"), "gray=1&fm=png"))
    red = colour_at(image, 0.25, 0.5)
    assert image.mode in ("L", "RGB") and len(set(red[:3])) == 1


def test_blur_and_sharp_change_local_contrast_in_opposite_directions() -> None:
    data = encode(photo_like(400, 300), "PNG")
    plain = decoded(render(data, "fm=png"))
    blurred = decoded(render(data, "blur=3&fm=png"))
    sharpened = decoded(render(data, "sharp=60&fm=png"))

    def edges(image: Image.Image) -> float:
        return float(ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0])

    assert edges(blurred) < edges(plain) * 0.7
    assert edges(sharpened) > edges(plain) * 1.1


def test_transparent_pixels_are_flattened_onto_white_for_jpeg_and_onto_bg_when_asked() -> None:
    # Given a half-transparent image
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((50, 0, 100, 100), fill=(0, 0, 255, 255))
    data = encode(image, "PNG")
    # When rendered to JPEG by default, and with bg=ff0000
    white = decoded(render(data, "fm=jpeg"))
    red = decoded(render(data, "fm=jpeg&bg=ff0000"))
    kept = decoded(render(data, "fm=png"))
    # Then the transparent half takes the background, and PNG keeps alpha
    assert close(colour_at(white, 0.25, 0.5), (255, 255, 255))
    assert close(colour_at(red, 0.25, 0.5), (255, 0, 0))
    assert kept.mode == "RGBA" and kept.getpixel((10, 10))[3] == 0  # type: ignore[index]


def test_image_watermark_is_composited_at_its_position() -> None:
    # Given a white photo and a solid magenta mark
    data = encode(Image.new("RGB", (400, 300), (255, 255, 255)), "PNG")
    mark = encode(Image.new("RGBA", (50, 50), (255, 0, 255, 255)), "PNG")
    options = RenderOptions(overlays={"brand/logo.png": mark})
    # When marked bottom-right at 25 % width
    image = decoded(render(data, "fm=png&mark=brand/logo.png&markpos=se&markw=0.25", options=options))
    # Then the bottom-right holds magenta and the top-left is still white
    assert close(colour_at(image, 0.85, 0.85), (255, 0, 255))
    assert close(colour_at(image, 0.1, 0.1), (255, 255, 255))


def test_missing_watermark_is_a_bad_parameter() -> None:
    with pytest.raises(SpecError) as caught:
        render(encode(colour_card(), "PNG"), "mark=nope.png")
    assert caught.value.param == "mark"


def test_text_watermark_draws_in_its_corner() -> None:
    data = encode(Image.new("RGB", (400, 300), (0, 0, 0)), "PNG")
    image = decoded(render(data, "fm=png&txt=imgpipe&txtpos=nw&txtsize=40&txtclr=ffffff"))
    top_left = image.crop((0, 0, 200, 80)).convert("L").getextrema()
    bottom_right = image.crop((200, 150, 400, 300)).convert("L").getextrema()
    assert top_left[1] > 200 and bottom_right[1] < 10


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "alpha", "expected"),
    [
        (CHROME_ACCEPT, False, "avif"),
        ("image/webp,*/*", False, "webp"),
        ("*/*", False, "jpeg"),
        ("*/*", True, "png"),
        (None, False, "jpeg"),
    ],
)
def test_auto_format_follows_accept_and_alpha(accept: str | None, alpha: bool, expected: str) -> None:
    image = Image.new("RGBA" if alpha else "RGB", (64, 64), (10, 200, 30, 128 if alpha else 255))
    rendered = render(encode(image, "PNG"), "w=32", accept)
    assert rendered.format == expected and rendered.negotiated
    assert decoded(rendered).format.lower() == expected
    assert rendered.query.endswith(f"fm={expected}") or f"fm={expected}" in rendered.query


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "png", "gif"])
def test_each_output_format_decodes_as_itself(fmt: str) -> None:
    source = photo_like(600, 400)
    rendered = render(encode(source, "PNG"), f"w=300&fm={fmt}")
    image = decoded(rendered)
    assert image.format.lower() == fmt and image.size == (300, 200)
    assert rendered.media_type == f"image/{fmt}"
    assert ssim(image.convert("RGB"), source.resize((300, 200), Image.Resampling.LANCZOS)) > (
        0.75 if fmt == "gif" else 0.85
    )


def test_quality_trades_bytes_for_similarity() -> None:
    data = encode(photo_like(800, 600), "PNG")
    low, high = render(data, "w=400&fm=webp&q=30"), render(data, "w=400&fm=webp&q=90")
    assert len(low.data) < len(high.data)


# --- animation -----------------------------------------------------------------------------------


def test_animation_is_kept_when_the_format_can_animate() -> None:
    data = animated_gif(6, (80, 60))
    for fmt in ("gif", "webp"):
        rendered = render(data, f"w=40&fm={fmt}")
        image = Image.open(io.BytesIO(rendered.data))
        assert rendered.animated and rendered.frames == 6
        assert getattr(image, "n_frames", 1) == 6 and image.size == (40, 30)


@pytest.mark.parametrize(
    ("query", "reason"), [("w=40&fm=jpeg", "jpeg output is still"), ("w=40&fm=gif&anim=0", "anim=0")]
)
def test_animation_falls_back_to_the_first_frame_and_says_why(query: str, reason: str) -> None:
    rendered = render(animated_gif(6, (80, 60)), query)
    assert not rendered.animated and rendered.frames == 1
    assert any(reason in op for op in rendered.operations)


def test_animation_over_budget_falls_back_to_the_first_frame() -> None:
    # Given a 6-frame 80 × 60 animation (28 800 source pixels) and a 50 000 pixel animation budget
    data = animated_gif(6, (80, 60))
    options = RenderOptions(limits=Limits(max_animation_pixels=50_000))
    # When it is enlarged to 160 × 120 (6 × 19 200 = 115 200 output pixels)
    rendered = render(data, "w=160&up=1&fm=gif", options=options)
    # Then only the first frame is rendered, and the result says why
    assert not rendered.animated and (rendered.width, rendered.height) == (160, 120)
    assert any("budget" in op for op in rendered.operations)
    # And within budget it stays animated
    assert render(data, "w=80&fm=gif", options=options).animated


def test_an_animated_render_never_decodes_a_frame_over_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a GIF whose 1 × 1 first frame is followed by a 10 000 × 9 990 one, and a spy on every decode
    data = hand_gif((1, 1), [(0, 0, 1, 1), (0, 0, 10_000, 9_990)])
    decoded_sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        decoded_sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    # When it is rendered as an animation / Then it is refused as a bomb before any frame is decoded
    with pytest.raises(Rejected) as refused:
        render(data, "w=100&fm=gif")
    assert refused.value.reason == "bomb"
    assert decoded_sizes == []


def test_animated_renditions_share_one_decode_of_every_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a 6-frame animation, five animated outputs of it, and a count of the frames Pillow decodes
    data = animated_gif(6, (80, 60))
    queries = ["w=40&fm=gif", "w=40&fm=webp", "w=20&fm=webp", "w=200&fm=gif", "w=400&fm=gif"]
    decodes: list[int] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        if self.tile:  # there is data to decode (not a frame that is loaded already)
            decodes.append(self.tell())
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    # When they are rendered in one call
    outputs = render_many(data, queries)
    # Then each frame was decoded once
    assert sorted(decodes) == [0, 1, 2, 3, 4, 5]
    monkeypatch.undo()
    # And every output is the animation its own render gives, frame by frame
    for query, output in zip(queries, outputs, strict=True):
        alone = render(data, query)
        assert output.animated and output.frames == 6 and output.data == alone.data, query
    # And the two that come out at the source's own size (never enlarged) share one encode
    assert outputs[3].data is outputs[4].data and (outputs[4].width, outputs[4].height) == (80, 60)


def test_an_animated_gif_keeps_each_frame_s_colours_on_its_one_palette() -> None:
    # Given an animation whose frames are each a different flat colour
    colours = [(230, 20, 20), (20, 40, 230), (20, 200, 40), (240, 220, 20), (250, 250, 250), (10, 10, 10)]
    frames = [Image.new("RGB", (64, 48), colour) for colour in colours]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    # When it is rendered to a smaller GIF
    rendered = render(data, "w=32&fm=gif")
    # Then every frame still has its colour
    image = Image.open(io.BytesIO(rendered.data))
    for index, colour in enumerate(colours):
        image.seek(index)
        assert close(image.convert("RGB").getpixel((16, 12)), colour, 3.0), index  # type: ignore[arg-type]


# --- many renditions ------------------------------------------------------------------------------


def test_render_many_matches_single_renders_from_one_decode() -> None:
    data = encode(photo_like(2400, 1600), "JPEG", quality=92)
    queries = ["w=200&fm=webp", "w=800&fm=jpeg", "w=200&h=200&fit=cover&fm=png"]
    many = render_many(data, queries)
    for query, rendition in zip(queries, many, strict=True):
        single = render(data, query)
        assert (rendition.width, rendition.height, rendition.format) == (
            single.width,
            single.height,
            single.format,
        )
        assert ssim(decoded(rendition).convert("RGB"), decoded(single).convert("RGB")) > 0.97


def test_output_limits_are_a_bad_parameter() -> None:
    with pytest.raises(SpecError) as caught:
        render(encode(photo_like(400, 300), "PNG"), "w=8000&dpr=4&up=1")
    assert caught.value.param == "w"


def test_cmyk_profile_via_littlecms_round_trip_is_close() -> None:
    # Given an sRGB-tagged image (littleCMS path with an sRGB profile is a no-op)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(Image.new("RGB", (32, 32), (12, 180, 90)), "PNG", icc_profile=srgb)
    assert close(colour_at(decoded(render(data, "fm=png")), 0.5, 0.5), (12, 180, 90), 1.0)
