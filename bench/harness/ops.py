"""What is rendered: the four operations of the benchmark and how each tool spells them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

SUPPORTED_PARAMS = frozenset({"w", "h", "dpr", "fit", "g", "fm"})
VIPS_MAX_COORD = 10_000_000


@dataclass(frozen=True)
class Rendition:
    """One output of an operation, in terms every tool can follow."""

    name: str
    query: str  # imgpipe's spelling, passed to render()/render_many() as is
    width: int | None
    height: int | None
    fit: str  # inside | cover
    gravity: str  # center | auto
    fmt: str  # webp | jpeg | avif

    @property
    def ext(self) -> str:
        return {"jpeg": "jpg"}.get(self.fmt, self.fmt)

    def thumbor_path(self) -> str:
        """thumbor's URL path before the image id (unsafe URL, PIL engine)."""
        w, h = self.width or 0, self.height or 0
        if self.fit == "cover":
            smart = "smart/" if self.gravity == "auto" else ""
            return f"/unsafe/{w}x{h}/{smart}filters:format({self.fmt})/"
        return f"/unsafe/fit-in/{w}x{h}/filters:format({self.fmt})/"

    def fit_inside(self, size: tuple[int, int]) -> tuple[int, int]:
        """Output size for fit=inside without enlargement (what thumbor's fit-in does)."""
        src_w, src_h = size
        scales = [1.0]
        if self.width:
            scales.append(self.width / src_w)
        if self.height:
            scales.append(self.height / src_h)
        scale = min(scales)
        return max(1, round(src_w * scale)), max(1, round(src_h * scale))


@dataclass(frozen=True)
class Op:
    """A named operation: one rendition, or the default preset set of one photo."""

    name: str
    title: str
    renditions: tuple[Rendition, ...]
    # imgpipe time ≤ target_ratio × thumbor's, at bytes ≤ thumbor's and SSIM ≥ thumbor's − 0.002
    target_ratio: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Op:
        renditions = tuple(Rendition(**r) for r in raw["renditions"])
        return cls(
            name=raw["name"], title=raw["title"], renditions=renditions, target_ratio=raw["target_ratio"]
        )


def rendition_from_query(name: str, query: str) -> Rendition:
    """Translate an imgpipe query (w, h, dpr, fit, g, fm) into the peers' terms; refuse anything else."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(params) - SUPPORTED_PARAMS
    if unknown:
        raise ValueError(f"{name}: the peers cannot follow {sorted(unknown)} in {query!r}")
    dpr = float(params.get("dpr", "1"))
    width = round(int(params["w"]) * dpr) if "w" in params else None
    height = round(int(params["h"]) * dpr) if "h" in params else None
    fit = params.get("fit", "inside")
    if fit not in ("inside", "cover"):
        raise ValueError(f"{name}: fit={fit} has no like-for-like spelling in every peer")
    if fit == "cover" and not (width and height):
        raise ValueError(f"{name}: fit=cover needs both w and h")
    gravity = params.get("g", "center")
    if gravity not in ("center", "auto"):
        raise ValueError(f"{name}: g={gravity} is not benchmarked")
    return Rendition(name, query, width, height, fit, gravity, params.get("fm", "webp"))


def single(name: str, title: str, query: str, target_ratio: float) -> Op:
    return Op(name, title, (rendition_from_query(name, query),), target_ratio)


def build_ops(presets: dict[str, str] | None) -> dict[str, Op]:
    """The benchmark's operations; the preset set needs imgpipe's DEFAULT_PRESETS."""
    ops = {
        "webp800": single("webp800", "800 px WebP", "w=800&fm=webp", 0.6),
        "jpeg400": single("jpeg400", "400 px JPEG", "w=400&fm=jpeg", 0.9),
        "avif1200": single("avif1200", "1200 px AVIF", "w=1200&fm=avif", 0.3),
    }
    if presets is not None:
        renditions = tuple(rendition_from_query(name, f"{query}&fm=webp") for name, query in presets.items())
        ops["presets"] = Op("presets", "Default preset set (WebP)", renditions, 0.4)
    return ops


OP_NAMES = ("webp800", "jpeg400", "avif1200", "presets")
