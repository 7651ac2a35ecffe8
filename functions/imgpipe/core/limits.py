"""Decode and output limits. Checked from headers before any pixel is decoded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_source_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=50_000_000, gt=0, description="width × height of one frame")
    max_side: int = Field(default=16_383, gt=0, description="WebP's own ceiling; longer sides are refused")
    max_frames: int = Field(default=300, gt=0)
    # 150 MP holds inside the ingest function's lane timeout on its 2 GB (bench/results/animation.md): the
    # 10 animated eager renditions of 300 frames of 707 x 707 take ~10 s of CPU at a ~1 GB peak, and the
    # costliest content the 50 MiB source limit admits adds ~21 s; ingest's deadline covers the rest.
    max_animation_pixels: int = Field(
        default=150_000_000, gt=0, description="the canvas pixels decoded for all frames of one animation"
    )
    max_output_side: int = Field(default=8_192, gt=0)
    max_output_pixels: int = Field(default=40_000_000, gt=0)
    bomb_ratio: float = Field(
        default=2_000.0, gt=0, description="pixels per source byte above which an over-limit file is a bomb"
    )


DEFAULT_LIMITS = Limits()
