"""Real camera photos: every one yields the default preset set, upright, in sRGB."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgpipe.core import DEFAULT_PRESETS, inspect, render_many
from tests.corpus.conftest import CorpusFile, corpus_params

pytestmark = pytest.mark.corpus


@pytest.mark.parametrize("row", corpus_params("photos"))
def test_photo_renders_every_default_preset(row: CorpusFile) -> None:
    # Given a real photo
    data = row.file.read_bytes()
    info = inspect(data, declared_type=row.file.name)
    assert (info.width, info.height) == row.upright_size
    # When the default presets are rendered from one decode
    queries = [f"preset={name}&fm=webp" for name in DEFAULT_PRESETS]
    renditions = render_many(data, queries)
    # Then each decodes at its preset's size, upright (aspect preserved for width-only presets)
    for name, rendition in zip(DEFAULT_PRESETS, renditions, strict=True):
        image = Image.open(io.BytesIO(rendition.data))
        assert image.format == "WEBP" and image.size == (rendition.width, rendition.height)
        if "fit=cover" in DEFAULT_PRESETS[name]:
            assert max(image.size) <= 1200
        else:
            assert abs(image.width / image.height - info.width / info.height) < 0.02, name
        assert not image.getexif()
