"""The mezzanine: upright, bounded, high quality, and only where it saves work."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from imgpipe.core import RenderOptions, inspect, render, render_many
from imgpipe.core.metrics import ssim
from imgpipe.core.mezzanine import MEZZANINE_MAX_SIDE, mezzanine_key, mezzanine_spec, needs_mezzanine
from tests.builders import animated_gif, encode, oriented, photo_like


def test_large_rotated_jpeg_gets_an_upright_bounded_jpeg_mezzanine() -> None:
    # Given a 3200x2000 photo stored on its side (orientation 6)
    upright = photo_like(3200, 2000)
    data = oriented(upright, 6)
    info = inspect(data)

    # When its mezzanine is rendered
    assert needs_mezzanine(info)
    mezzanine = render(data, mezzanine_spec(info))

    # Then it is an upright JPEG bounded by the maximum side and close to the source
    assert (mezzanine.format, mezzanine.width, mezzanine.height) == ("jpeg", MEZZANINE_MAX_SIDE, 1600)
    decoded = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    reference = decoded.resize((MEZZANINE_MAX_SIDE, 1600), Image.Resampling.LANCZOS)
    assert ssim(reference, Image.open(io.BytesIO(mezzanine.data))) > 0.95


def test_alpha_source_keeps_alpha_in_webp() -> None:
    rgba = photo_like(3000, 1000).convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    info = inspect(encode(rgba, "PNG"))
    assert mezzanine_spec(info).fm == "webp"


def test_small_stills_and_animations_have_none() -> None:
    assert not needs_mezzanine(inspect(encode(photo_like(2000, 1500))))
    assert not needs_mezzanine(inspect(animated_gif(3, (3000, 40))))


def test_key_sits_under_the_prefix() -> None:
    assert mezzanine_key("mezzanine/", "uploads/t1/a b.jpg") == "mezzanine/uploads/t1/a b.jpg"


def test_an_intermediate_jpeg_is_baseline_while_served_renditions_stay_progressive() -> None:
    # Given a photo large enough for a mezzanine, rendered in one call with a served preset
    data = encode(photo_like(3200, 2000))
    spec = mezzanine_spec(inspect(data))
    served = "w=800&fm=jpeg"

    # When the mezzanine is marked as an intermediate
    mezzanine, rendition = render_many(
        data, [spec, served], options=RenderOptions(intermediates=frozenset({spec}))
    )

    # Then only the mezzanine is written without progressive scans, and both decode to the right size
    with Image.open(io.BytesIO(mezzanine.data)) as image:
        assert (image.format, image.size) == ("JPEG", (MEZZANINE_MAX_SIDE, 1600))
        assert not image.info.get("progressive")
    with Image.open(io.BytesIO(rendition.data)) as image:
        assert (image.format, image.size) == ("JPEG", (800, 500))
        assert image.info.get("progressive")
