"""Safe decode: every way a source can be bad ends as a Rejected with the right reason."""

from __future__ import annotations

import io

import pillow_heif
import pytest
from PIL import Image, ImageFile

from imgpipe.core import Limits, Rejected, inspect
from imgpipe.core.decode import open_source, seek_frame
from imgpipe.core.sniff import sniff
from tests.builders import (
    animated_gif,
    colour_card,
    encode,
    hand_gif,
    hand_webp,
    photo_like,
    png_header_only,
)


def rejection(data: bytes, **kwargs: object) -> Rejected:
    with pytest.raises(Rejected) as caught:
        inspect(data, **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("GIF", "gif"),
        ("WEBP", "webp"),
        ("AVIF", "avif"),
        ("TIFF", "tiff"),
        ("BMP", "bmp"),
    ],
)
def test_sniff_names_the_format_from_bytes_alone(fmt: str, expected: str) -> None:
    # Given an image encoded in a format
    data = encode(colour_card(64, 48), fmt)
    # When it is sniffed / Then the magic bytes name it
    assert sniff(data) == expected


def test_heif_sources_are_decoded_through_the_plugin() -> None:
    # Given a HEIF file written by pillow-heif
    heif = pillow_heif.from_pillow(colour_card(64, 48))
    out = io.BytesIO()
    heif.save(out, quality=90)
    # When it is inspected / Then it is recognised and measured
    info = inspect(out.getvalue())
    assert (info.format, info.width, info.height) == ("heif", 64, 48)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\0" * 64, "empty"),
        (b"hello, I am a text file" * 10, "not-an-image"),
        (b"GIF8", "truncated"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "unsupported-format",
        ),
        (b"<svg onload=alert(1)></svg>", "unsupported-format"),
        (b"8BPS\x00\x01" + b"\0" * 64, "unsupported-format"),
        (b"%PDF-1.4\n" + b"\0" * 64, "unsupported-format"),
    ],
)
def test_non_images_are_rejected_with_their_reason(data: bytes, reason: str) -> None:
    # Given bytes that are not a usable image / When inspected / Then the reason says why
    assert rejection(data).reason == reason


def test_a_truncated_jpeg_is_rejected_as_truncated() -> None:
    # Given a real JPEG cut in the middle of its scan data
    data = encode(photo_like(600, 400), "JPEG", quality=90)
    # When inspected / Then it is truncated, not silently grey-filled
    assert rejection(data[: len(data) // 2]).reason == "truncated"


def test_a_png_with_a_bad_chunk_checksum_is_corrupt() -> None:
    # Given a PNG whose IHDR checksum was damaged (Pillow decodes these silently)
    data = bytearray(encode(colour_card(32, 32), "PNG"))
    data[29] ^= 0xFF
    # When inspected / Then verify() catches it
    assert rejection(bytes(data)).reason == "corrupt"


def test_a_header_claiming_a_huge_image_is_a_bomb_before_any_decode() -> None:
    # Given a tiny PNG whose header claims 30000 × 30000 pixels
    data = png_header_only(30_000, 30_000)
    # When inspected / Then it is refused as a bomb by the header check
    assert rejection(data).reason == "bomb"


def test_an_honest_but_oversized_image_hits_the_pixel_limit() -> None:
    # Given an ordinary image over a lowered pixel limit
    data = encode(photo_like(300, 200), "JPEG")
    # When inspected under a 50 000 pixel limit / Then it is pixel-limit, not bomb
    assert rejection(data, limits=Limits(max_pixels=50_000)).reason == "pixel-limit"


def test_too_many_frames_are_refused() -> None:
    # Given a 12-frame GIF and a limit of 10 frames
    data = animated_gif(12)
    # When inspected / Then it is too-many-frames
    assert rejection(data, limits=Limits(max_frames=10)).reason == "too-many-frames"


def test_frames_times_pixels_are_budgeted() -> None:
    # Given an honest animation (a few hundred bytes for each frame) within the frame count but over the
    # frames × pixels budget
    data = animated_gif(10, size=(100, 100))
    # When inspected with a 50 000 pixel animation budget / Then it is over the pixel limit, not a bomb
    refused = rejection(data, limits=Limits(max_animation_pixels=50_000))
    assert refused.reason == "pixel-limit" and "100,000 pixels" in refused.message


# --- frames whose header is hostile: refused from the bytes, before a frame is decoded ----------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every frame Pillow is asked to decode (ImageFile.load allocates that canvas)."""
    seen: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        seen.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


def test_a_huge_later_gif_frame_is_a_bomb_without_decoding_anything(decodes: list[tuple[int, int]]) -> None:
    # Given a GIF of a 1 × 1 screen and first frame, whose second frame declares 10 000 × 9 990 pixels
    data = hand_gif((1, 1), [(0, 0, 1, 1), (0, 0, 10_000, 9_990)])
    # When inspected
    refused = rejection(data)
    # Then it is a bomb named by its frame, and no frame at all was decoded
    assert refused.reason == "bomb" and "frame 2: 10000x9990" in refused.message
    assert decodes == []


def test_a_later_frame_placed_far_out_grows_the_canvas_and_is_refused(decodes: list[tuple[int, int]]) -> None:
    # Given a 100 × 100 GIF whose second frame is 1 × 1 but placed at (9000, 9000): Pillow grows the canvas
    # of every later frame to 9001 × 9001 to hold it
    data = hand_gif((100, 100), [(0, 0, 100, 100), (9_000, 9_000, 1, 1)])
    # When inspected / Then the canvas is what is checked, and nothing was decoded
    refused = rejection(data)
    assert refused.reason == "bomb" and "9001x9001" in refused.message
    assert decodes == []


def test_an_honest_later_frame_over_a_lowered_limit_is_pixel_limit(decodes: list[tuple[int, int]]) -> None:
    # Given a GIF with a 1 × 1 first frame and a 300 × 300 second one, in a file large enough to hold it
    data = hand_gif((1, 1), [(0, 0, 1, 1), (0, 0, 300, 300)], padding=1_000)
    # When inspected under a 50 000 pixel limit / Then it is pixel-limit, before any decode
    assert rejection(data, limits=Limits(max_pixels=50_000)).reason == "pixel-limit"
    assert decodes == []


def test_the_animation_budget_counts_the_canvas_every_frame_is_decoded_onto(
    decodes: list[tuple[int, int]],
) -> None:
    # Given 100 frames of 1 × 1 pixel, the second placed at (999, 999): the first frame is 1 × 1, but Pillow
    # composites each of the other 99 onto a 1000 × 1000 canvas (99 million pixels decoded)
    frames = [(0, 0, 1, 1), (999, 999, 1, 1)] + [(0, 0, 1, 1)] * 98
    data = hand_gif((1, 1), frames)
    # When inspected with a 10 million pixel animation budget
    refused = rejection(data, limits=Limits(max_animation_pixels=10_000_000))
    # Then the sum of the canvases is over it (100 × the first frame's size is not), before any decode
    assert refused.reason == "bomb" and "99,000,001 pixels" in refused.message
    assert decodes == []


def test_too_many_gif_frames_are_counted_from_the_bytes(decodes: list[tuple[int, int]]) -> None:
    data = hand_gif((10, 10), [(0, 0, 10, 10)] * 12)
    assert rejection(data, limits=Limits(max_frames=10)).reason == "too-many-frames"
    assert decodes == []


def test_a_good_hand_written_gif_passes_with_every_frame_checked() -> None:
    # Given a well-formed GIF whose (1 × 1) frames stay within its 20 × 10 screen
    data = hand_gif((20, 10), [(0, 0, 1, 1), (5, 5, 1, 1), (19, 9, 1, 1)])
    # When inspected / Then it is an ordinary 3-frame animation
    info = inspect(data)
    assert (info.width, info.height, info.frames, info.animated) == (20, 10, 3, True)


def test_every_tiff_page_is_checked_by_its_header_before_any_page_decodes(
    decodes: list[tuple[int, int]],
) -> None:
    # Given a two-page TIFF whose second page is 300 × 300
    pages = [Image.new("RGB", (10, 10), (200, 30, 30)), Image.new("RGB", (300, 300), (30, 30, 200))]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    # When inspected under a 50 000 pixel limit / Then the second page is over it, and nothing was decoded
    refused = rejection(data, limits=Limits(max_pixels=50_000))
    assert refused.reason == "pixel-limit" and "frame 2: 300x300" in refused.message
    assert decodes == []


def test_a_frame_larger_than_its_checked_canvas_is_never_decoded() -> None:
    # Given an opened GIF whose checked canvases are (as if misread) smaller than what Pillow will decode
    source = open_source(hand_gif((4, 4), [(0, 0, 1, 1), (0, 0, 1, 1)]), Limits())
    source.canvases = ((4, 4), (2, 2))
    # When its second frame is sought / Then it is refused before anything decodes into it
    with pytest.raises(Rejected) as refused:
        seek_frame(source, 1)
    assert refused.value.reason == "corrupt" and "4x4" in refused.value.message


def test_an_animated_webp_canvas_is_checked_before_libwebp_allocates_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the RIFF header of an animated WebP with a 8000 × 8000 canvas (64 MP: over the limit, under
    # Pillow's own guard) and a file of a hundred bytes
    created: list[int] = []
    monkeypatch.setattr("PIL._webp.WebPAnimDecoder", lambda data: created.append(len(data)))
    data = hand_webp((8_000, 8_000), 2)
    # When inspected / Then it is a bomb, and libwebp's animation decoder was never created
    refused = rejection(data)
    assert refused.reason == "bomb" and "8000x8000" in refused.message
    assert created == []


def test_webp_frames_are_counted_from_the_riff_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[int] = []
    monkeypatch.setattr("PIL._webp.WebPAnimDecoder", lambda data: created.append(len(data)))
    data = hand_webp((1_000, 1_000), 12)
    assert rejection(data, limits=Limits(max_frames=10)).reason == "too-many-frames"
    assert rejection(data, limits=Limits(max_animation_pixels=10_000_000)).reason == "bomb"
    assert created == []


def test_oversized_files_are_refused_before_sniffing() -> None:
    data = encode(photo_like(300, 200), "JPEG")
    assert rejection(data, limits=Limits(max_source_bytes=1_000)).reason == "too-large"


@pytest.mark.parametrize(
    ("declared", "reason"),
    [("holiday.png", "type-mismatch"), ("image/png", "type-mismatch"), ("song.mp3", "type-mismatch")],
)
def test_a_declared_type_that_disagrees_with_the_bytes_is_refused(declared: str, reason: str) -> None:
    # Given a JPEG announced as something else
    data = encode(colour_card(32, 32), "JPEG")
    # When inspected with that claim / Then the mismatch is the reason
    assert rejection(data, declared_type=declared).reason == reason


@pytest.mark.parametrize(
    "declared", ["holiday.JPG", "image/jpeg", "no-extension", "application/octet-stream"]
)
def test_matching_or_empty_claims_pass(declared: str) -> None:
    data = encode(colour_card(32, 32), "JPEG")
    assert inspect(data, declared_type=declared).format == "jpeg"


def test_inspect_reports_the_facts_of_a_good_image() -> None:
    # Given a 400 × 300 JPEG stored with orientation 6 and GPS
    card = colour_card(400, 300)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 7D"
    exif.get_ifd(0x8825)[2] = (1.0, 2.0, 3.0)
    data = encode(card.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes(), quality=92)
    # When inspected
    info = inspect(data)
    # Then the size is the upright size and the facts are all there
    assert (info.width, info.height, info.orientation) == (400, 300, 6)
    assert info.camera == "Canon EOS 7D"
    assert info.had_gps is True
    assert len(info.sha256) == 64 and info.bytes == len(data)
    assert info.frames == 1 and not info.animated
    assert info.dominant_colour.startswith("#") and len(info.phash) == 16
    assert 0 <= info.focal_point[0] <= 1 and 0 <= info.focal_point[1] <= 1
    assert len(info.blurhash) == 28


def test_a_decoder_crash_inside_pillow_is_a_rejection_not_an_exception() -> None:
    # Given a GIF whose frame data is garbage after a valid header
    good = animated_gif(3)
    broken = good[:40] + bytes((b * 7 + 3) % 256 for b in good[40:])
    # When inspected / Then whatever Pillow raises comes back as a Rejected
    assert rejection(broken).reason in {"corrupt", "truncated", "bomb"}
