"""Tags for images: the `Tagger` port, the offline tagger, and a circuit breaker around remote taggers.

Remote taggers (imgpipe.adapters.rekognition, imgpipe.adapters.bedrock) see a downscaled JPEG without
metadata, never the original. When one fails N times within T seconds the breaker opens: for a cool-down
every image is tagged offline and marked `refresh=True` (so a later pass can ask the remote tagger again);
then one probe goes through (half-open) and its outcome closes or re-opens the breaker.
"""

from __future__ import annotations

import io
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from PIL import Image, ImageStat

from imgpipe.naming import words

# What a remote tagger is sent: enough pixels to recognise things, few enough to be quick and cheap.
REMOTE_MAX_SIDE = 1024
REMOTE_JPEG_QUALITY = 85

# Named colours for the offline tagger: a small, common vocabulary people search with.
COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "red": (200, 30, 30),
    "orange": (240, 140, 20),
    "yellow": (235, 215, 40),
    "green": (40, 160, 60),
    "teal": (20, 140, 140),
    "blue": (30, 70, 200),
    "purple": (120, 50, 160),
    "pink": (235, 130, 180),
    "brown": (120, 75, 40),
}


class TaggerUnavailable(Exception):
    """A remote tagger could not answer (throttled, down, timed out): the breaker counts these."""


@dataclass(frozen=True)
class TagInput:
    """What a tagger gets: decodable image bytes (a rendition or the original) and the facts ingest knows."""

    data: bytes
    width: int
    height: int
    taken_at: str | None = None
    camera: str | None = None


@dataclass(frozen=True)
class TagResult:
    tags: list[str]  # best first, lowercase
    source: str  # the tagger that produced them: offline | rekognition | bedrock
    caption: str | None = None
    # True when a fallback stood in for the configured remote tagger: ask it again later.
    refresh: bool = False


class Tagger(Protocol):
    name: str

    def tag(self, image: TagInput) -> TagResult:
        """Raises TaggerUnavailable when a remote service cannot answer."""
        ...


def remote_jpeg(data: bytes, max_side: int = REMOTE_MAX_SIDE) -> bytes:
    """A downscaled sRGB JPEG of the first frame, with no metadata: what leaves for a remote tagger."""
    with Image.open(io.BytesIO(data)) as source:
        source.draft("RGB", (max_side, max_side))
        image = source.convert("RGB")
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=REMOTE_JPEG_QUALITY)
    return out.getvalue()


def _nearest_colour(rgb: tuple[int, ...]) -> str:
    return min(
        COLOUR_NAMES,
        key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOUR_NAMES[name], rgb[:3], strict=True)),
    )


def orientation(width: int, height: int) -> str:
    if width > height * 1.05:
        return "landscape"
    if height > width * 1.05:
        return "portrait"
    return "square"


class OfflineTagger:
    """Tags from pixels and facts alone (no network): colour names, brightness, orientation, camera, date."""

    name = "offline"

    def tag(self, image: TagInput) -> TagResult:
        with Image.open(io.BytesIO(image.data)) as source:
            source.draft("RGB", (64, 64))
            small = source.convert("RGB")
        small.thumbnail((48, 48))
        tags: list[str] = []
        # The two most common colours of a 6-colour reduction, by name (duplicates collapse).
        reduced = small.quantize(colors=6, method=Image.Quantize.MEDIANCUT)
        palette = reduced.getpalette() or []
        counts = sorted(reduced.getcolors() or [], reverse=True)
        for _, index in counts[:2]:
            start = int(index) * 3  # type: ignore[call-overload]
            colour = _nearest_colour(tuple(palette[start : start + 3]))
            if colour not in tags:
                tags.append(colour)
        luminance = ImageStat.Stat(small.convert("L")).mean[0]
        if luminance >= 170:
            tags.append("bright")
        elif luminance <= 70:
            tags.append("dark")
        tags.append(orientation(image.width, image.height))
        if image.camera:
            tags.extend(word for word in words(image.camera) if word not in tags)
        if image.taken_at and image.taken_at[:4].isdigit():
            tags.append(image.taken_at[:4])
        return TagResult(tags=tags, source=self.name)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    """Opens after `failures` failures within `window` seconds; after `cooldown` seconds lets one probe in."""

    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    changes: list[tuple[BreakerState, BreakerState]] = field(default_factory=list)
    _recent: deque[float] = field(default_factory=deque)
    _opened_at: float = 0.0
    _probing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _move(self, state: BreakerState) -> None:
        if state != self.state:
            self.changes.append((self.state, state))
            self.state = state

    def allow(self) -> bool:
        """True when a call may go to the remote tagger now (closed, or the one half-open probe)."""
        with self._lock:
            if self.state == BreakerState.CLOSED:
                return True
            if self.state == BreakerState.OPEN and self.clock() - self._opened_at >= self.cooldown:
                self._move(BreakerState.HALF_OPEN)
            if self.state == BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._probing = False
            self._recent.clear()
            self._move(BreakerState.CLOSED)

    def failure(self) -> None:
        with self._lock:
            now = self.clock()
            if self.state == BreakerState.HALF_OPEN:
                self._probing = False
                self._open(now)
                return
            self._recent.append(now)
            while self._recent and now - self._recent[0] > self.window:
                self._recent.popleft()
            if len(self._recent) >= self.failures:
                self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._recent.clear()
        self._move(BreakerState.OPEN)


class ResilientTagger:
    """The remote tagger behind a breaker, the offline tagger as the fallback."""

    def __init__(self, remote: Tagger, breaker: CircuitBreaker, fallback: Tagger | None = None) -> None:
        self.remote = remote
        self.breaker = breaker
        self.fallback: Tagger = fallback or OfflineTagger()
        self.name = remote.name

    def tag(self, image: TagInput) -> TagResult:
        if self.breaker.allow():
            try:
                result = self.remote.tag(image)
            except Exception:
                # Any failure counts (not only TaggerUnavailable): a half-open probe must always end.
                self.breaker.failure()
            else:
                self.breaker.success()
                return result
        return replace(self.fallback.tag(image), refresh=True)
