"""Luma SSIM of every output against a full-quality reference made from the same source.

Reference: full decode (no draft), `exif_transpose`, RGB, then one LANCZOS resize to exactly the output's
dimensions. The primary score ignores ICC profiles on both sides (decoded values are taken as sRGB). A second,
colour-managed score converts a non-sRGB source and any non-sRGB output to sRGB first, so that a tool that
converts Display P3 to sRGB (imgpipe) is not marked down against tools that keep P3 values and tag them.

Cover crops: each tool picks its own window (centre, saliency, faces), so the reference window is found,
not assumed: the photo is resampled once to output scale, the output is slid along the cropped axis (coarse,
then every pixel, then quarter pixels; least squared error on luma), and the reference is then resampled
from the full-size decode at the window found.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageOps

Box = tuple[float, float, float, float]
REPO = Path(__file__).resolve().parents[2]
_SRGB_NAMES = ("srgb", "iec61966-2.1", "iec 61966-2-1")


def load_ssim() -> Callable[[Image.Image, Image.Image], float]:
    """imgpipe.core.metrics.ssim; loaded from its file while the rest of imgpipe.core does not import."""
    try:
        from imgpipe.core.metrics import ssim  # noqa: PLC0415 - falls back below while imgpipe is incomplete

        return ssim
    except Exception:
        path = REPO / "functions" / "imgpipe" / "core" / "metrics.py"
        spec = importlib.util.spec_from_file_location("_imgpipe_metrics_for_bench", path)
        if spec is None or spec.loader is None:
            raise
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        loaded: Callable[[Image.Image, Image.Image], float] = module.ssim
        return loaded


ssim = load_ssim()


def _is_srgb(icc: bytes | None) -> bool:
    if not icc:
        return True
    try:
        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).lower()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return True  # unreadable: every tool ignores it too
    return any(token in name for token in _SRGB_NAMES)


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    converted = ImageCms.profileToProfile(
        image, source, target, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
    )
    assert converted is not None
    return converted


def _luma(image: Image.Image) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.asarray(image.convert("L"), dtype=np.float32)


@dataclass
class Reference:
    """The upright full-size decode of one photo, and its sRGB conversion where the profile is not sRGB."""

    raw: Image.Image
    managed: Image.Image | None
    profile: str | None
    _resized: dict[tuple[str, tuple[int, int], Box], Image.Image] = field(default_factory=dict)
    _prescaled: dict[tuple[int, int], Image.Image] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Reference:
        with Image.open(path) as opened:
            opened.load()  # full decode: no draft
            icc = opened.info.get("icc_profile")
            upright = ImageOps.exif_transpose(opened)
        raw = upright.convert("RGB")
        managed = None if _is_srgb(icc) else _to_srgb(raw, icc)
        profile = None
        if icc:
            try:
                profile = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
            except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
                profile = "unreadable"
        return cls(raw, managed, profile)

    def resized(self, variant: str, size: tuple[int, int], box: Box) -> Image.Image:
        key = (variant, size, box)
        if key not in self._resized:
            source = self.managed if variant == "managed" and self.managed is not None else self.raw
            self._resized[key] = source.resize(size, Image.Resampling.LANCZOS, box=box)
        return self._resized[key]

    def full_box(self) -> Box:
        return (0.0, 0.0, float(self.raw.width), float(self.raw.height))

    def cover_box(self, out: Image.Image) -> Box:
        """The source window (in full-size pixels) that this cover crop shows."""
        src_w, src_h = self.raw.size
        out_w, out_h = out.size
        scale = max(out_w / src_w, out_h / src_h)
        crop_w, crop_h = out_w / scale, out_h / scale
        horizontal = crop_w < src_w - 0.5  # the crop slides along x (else along y)
        span = (src_w - crop_w) if horizontal else (src_h - crop_h)
        if span < 0.5:
            return self.full_box()

        # Search on the whole photo resampled once to output scale (shared by every tool's crop).
        pre_size = (max(out_w, round(src_w * scale)), max(out_h, round(src_h * scale)))
        if pre_size not in self._prescaled:
            self._prescaled[pre_size] = self.raw.resize(pre_size, Image.Resampling.LANCZOS)
        pre_image = self._prescaled[pre_size]
        pre, target = _luma(pre_image), _luma(out)
        positions = (pre.shape[1] - out_w) if horizontal else (pre.shape[0] - out_h)

        def error_int(d: int) -> float:
            window = pre[:, d : d + out_w] if horizontal else pre[d : d + out_h, :]
            return float(np.mean((window - target) ** 2))

        # 1. Coarse: every c-th offset, on copies reduced by c (about 300 px on the long side).
        c = max(1, -(-max(out_w, out_h) // 300))
        pre_c, target_c = pre[::c, ::c], target[::c, ::c]
        span_c = positions // c
        coarse = []
        for k in range(span_c + 1):
            d = k * c
            window = (
                pre_c[:, k : k + target_c.shape[1]] if horizontal else pre_c[k : k + target_c.shape[0], :]
            )
            if window.shape != target_c.shape:
                window = (pre[:, d : d + out_w] if horizontal else pre[d : d + out_h, :])[::c, ::c]
            coarse.append(float(np.mean((window - target_c) ** 2)))
        best_c = int(np.argmin(coarse)) * c
        # 2. Every integer offset around it.
        best = min(range(max(0, best_c - c), min(positions, best_c + c) + 1), key=error_int)

        # 3. Quarter pixels, resampled from the output-scale copy.
        def error_frac(d: float) -> float:
            box = (d, 0.0, d + out_w, float(out_h)) if horizontal else (0.0, d, float(out_w), d + out_h)
            candidate = pre_image.resize(out.size, Image.Resampling.BICUBIC, box=box)
            return float(np.mean((_luma(candidate) - target) ** 2))

        candidates = [best + step / 4 for step in range(-3, 4) if 0 <= best + step / 4 <= positions]
        refined = min(candidates, key=error_frac)
        # Back to full-size pixels, with the prescaled copy's exact ratio along the sliding axis.
        if horizontal:
            offset = min(max(refined * src_w / pre_size[0], 0.0), span)
            return (offset, 0.0, offset + crop_w, float(src_h))
        offset = min(max(refined * src_h / pre_size[1], 0.0), span)
        return (0.0, offset, float(src_w), offset + crop_h)


@dataclass(frozen=True)
class Score:
    ssim: float
    ssim_managed: float
    width: int
    height: int
    box: Box


def decode_output(data: bytes) -> tuple[Image.Image, Image.Image | None]:
    """The output as RGB (ICC ignored), and as sRGB where it carries a non-sRGB profile."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        icc = opened.info.get("icc_profile")
        rgb = opened.convert("RGB")
    return rgb, (None if _is_srgb(icc) else _to_srgb(rgb, icc))


class WrongGeometryError(ValueError):
    """The output does not show the upright source (for example, EXIF orientation was not applied)."""


def check_geometry(reference: Reference, out: Image.Image) -> None:
    """A fit-inside output must keep the upright source's aspect ratio (within rounding)."""
    src_w, src_h = reference.raw.size
    tolerance = 1 / min(out.size) + 0.01
    if abs((out.width / out.height) / (src_w / src_h) - 1) <= tolerance:
        return
    if abs((out.width / out.height) / (src_h / src_w) - 1) <= tolerance:
        raise WrongGeometryError(
            f"sideways: {out.width}×{out.height} output of a {src_w}×{src_h} upright source "
            "(EXIF orientation not applied)"
        )
    raise WrongGeometryError(f"aspect: {out.width}×{out.height} output of a {src_w}×{src_h} source")


def score(reference: Reference, data: bytes, fit: str) -> Score:
    out, out_managed = decode_output(data)
    if fit != "cover":
        check_geometry(reference, out)
    box = reference.cover_box(out) if fit == "cover" else reference.full_box()
    value = ssim(out, reference.resized("raw", out.size, box))
    if reference.managed is None and out_managed is None:
        managed = value
    else:
        managed = ssim(out_managed or out, reference.resized("managed", out.size, box))
    return Score(round(value, 5), round(managed, 5), out.width, out.height, tuple(round(v, 2) for v in box))  # type: ignore[arg-type]


def score_photo(job: dict[str, Any]) -> dict[str, Any]:
    """Score every output made from one photo (runs in a pool worker). job: photo path, outputs list."""
    reference = Reference.load(Path(job["photo"]))
    scores = {}
    for item in job["outputs"]:
        try:
            s = score(reference, Path(item["path"]).read_bytes(), item["fit"])
            scores[item["key"]] = {
                "ssim": s.ssim,
                "ssim_managed": s.ssim_managed,
                "width": s.width,
                "height": s.height,
                "box": list(s.box),
            }
        except Exception as error:
            scores[item["key"]] = {"error": f"{type(error).__name__}: {error}"}
    return {"photo": Path(job["photo"]).name, "profile": reference.profile, "scores": scores}
