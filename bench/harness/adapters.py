"""One adapter per tool, all with the same signature: (source_path, op) -> (outputs, elapsed_ms).

`outputs` holds one encoded image per rendition of the op (one for the single ops, one per preset for the
preset set). In-process tools are timed from bytes already in memory to encoded bytes (decode, resize,
encode); thumbor is timed over loopback HTTP as a client sees it (request sent → body received).
"""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.ops import VIPS_MAX_COORD, Op, Rendition

Adapter = Callable[[Path, Op], tuple[list[bytes], float]]


class SourceCache:
    """Source bytes, read once per photo before any timed call."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._data = b""

    def get(self, path: Path) -> bytes:
        if path != self._path:
            self._path, self._data = path, path.read_bytes()
        return self._data


class ImgpipeUnavailableError(RuntimeError):
    """imgpipe.core.render cannot be imported yet: benchmark the peers with --tools pillow,vips,thumbor."""


def imgpipe_adapter() -> Adapter:
    try:
        from imgpipe.core import render, render_many  # noqa: PLC0415 - only the tool under test is imported
    except Exception as error:  # ImportError, or anything the package raises while it is being written
        raise ImgpipeUnavailableError(
            f"imgpipe is not importable ({type(error).__name__}: {error}); "
            "run the peers alone with --tools pillow,vips,thumbor"
        ) from error
    cache = SourceCache()

    def run(source: Path, op: Op) -> tuple[list[bytes], float]:
        data = cache.get(source)
        queries = [r.query for r in op.renditions]
        start = time.perf_counter()
        if len(queries) == 1:
            outputs = [render(data, queries[0]).data]
        else:
            outputs = [rendered.data for rendered in render_many(data, queries)]
        return outputs, (time.perf_counter() - start) * 1000

    return run


def pillow_adapter() -> Adapter:
    """Naive Pillow: open, exif_transpose, RGB, one LANCZOS resize from full size, save with defaults."""
    from PIL import Image, ImageOps  # noqa: PLC0415 - only the tool under test is imported

    cache = SourceCache()
    formats = {"webp": "WEBP", "jpeg": "JPEG", "avif": "AVIF"}

    def one(data: bytes, rendition: Rendition) -> bytes:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        if rendition.fit == "cover":
            assert rendition.width
            assert rendition.height
            image = ImageOps.fit(image, (rendition.width, rendition.height), Image.Resampling.LANCZOS)
        else:
            image = image.resize(rendition.fit_inside(image.size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, formats[rendition.fmt])  # format defaults: JPEG q75, WebP q80, AVIF q75 speed 6
        return out.getvalue()

    def run(source: Path, op: Op) -> tuple[list[bytes], float]:
        data = cache.get(source)
        start = time.perf_counter()
        outputs = [one(data, rendition) for rendition in op.renditions]  # every rendition its own request
        return outputs, (time.perf_counter() - start) * 1000

    return run


def vips_adapter() -> Adapter:
    """libvips: thumbnail_buffer (shrink-on-load, auto-rotate), then write_to_buffer at default quality."""
    import pyvips  # noqa: PLC0415 - only the tool under test is imported

    # No operation cache: with it, a repeated thumbnail_buffer of the same bytes is answered from memory and
    # the timed repetitions would measure the encoder alone (image servers built on vips turn it off too).
    pyvips.cache_set_max(0)
    cache = SourceCache()
    suffixes = {"webp": ".webp", "jpeg": ".jpg", "avif": ".avif"}

    def one(data: bytes, rendition: Rendition) -> bytes:
        options: dict[str, Any] = {"size": "down"}
        if rendition.fit == "cover":
            options["height"] = rendition.height
            options["crop"] = "attention" if rendition.gravity == "auto" else "centre"
        else:
            options["height"] = rendition.height or VIPS_MAX_COORD
        width = rendition.width or VIPS_MAX_COORD
        image = pyvips.Image.thumbnail_buffer(data, width, **options)
        # keep="icc": drop EXIF/XMP like thumbor and Pillow do (vips keeps all metadata by default).
        result: bytes = image.write_to_buffer(suffixes[rendition.fmt], keep="icc")
        return result

    def run(source: Path, op: Op) -> tuple[list[bytes], float]:
        data = cache.get(source)
        start = time.perf_counter()
        outputs = [one(data, rendition) for rendition in op.renditions]
        return outputs, (time.perf_counter() - start) * 1000

    return run


class ThumborClient:
    """HTTP/1.1 keep-alive client for a thumbor server on loopback; one request per rendition."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.port = port
        self.timeout = timeout
        self.requested: list[str] = []  # every URL path, in order, to pair with thumbor's access log
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self._conn

    def get(self, path: str) -> bytes:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise RuntimeError(f"thumbor answered {response.status} for {path}: {body[:200]!r}")
            return body
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def adapter(self) -> Adapter:
        def run(source: Path, op: Op) -> tuple[list[bytes], float]:
            outputs: list[bytes] = []
            elapsed = 0.0
            for rendition in op.renditions:
                path = rendition.thumbor_path() + source.name
                self.requested.append(path)
                start = time.perf_counter()
                outputs.append(self.get(path))
                elapsed += time.perf_counter() - start
            return outputs, elapsed * 1000

        return run


def in_process_adapter(tool: str) -> Adapter:
    factories: dict[str, Callable[[], Adapter]] = {
        "imgpipe": imgpipe_adapter,
        "pillow": pillow_adapter,
        "vips": vips_adapter,
    }
    return factories[tool]()
