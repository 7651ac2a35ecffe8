"""The real-image tier: reads ../shared/corpus in place and skips cleanly when it is absent."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(
    os.environ.get("IMGPIPE_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus")
)


@dataclass(frozen=True)
class CorpusFile:
    path: str
    format: str
    width: int | None
    height: int | None
    orientation: int
    frames: int | None
    expected: str
    what_it_tests: str
    mode: str

    @property
    def file(self) -> Path:
        return CORPUS / self.path

    @property
    def upright_size(self) -> tuple[int, int] | None:
        if self.width is None or self.height is None:
            return None
        swap = self.orientation in (5, 6, 7, 8)
        return (self.height, self.width) if swap else (self.width, self.height)


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def load_manifest() -> list[CorpusFile]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        CorpusFile(
            path=row["path"],
            format=row["format"],
            width=_int(row["width"]),
            height=_int(row["height"]),
            orientation=_int(row["exif_orientation"]) or 1,
            frames=_int(row["frames"]),
            expected=row["expected"],
            what_it_tests=row["what_it_tests"],
            mode=row["mode"],
        )
        for row in rows
    ]


MANIFEST = load_manifest()


def corpus_params(folder: str) -> list[object]:
    if not MANIFEST:
        return [
            pytest.param(None, marks=pytest.mark.skip(reason=f"corpus not found at {CORPUS}"), id="no-corpus")
        ]
    return [
        pytest.param(row, id=row.path.split("/", 1)[1])
        for row in MANIFEST
        if row.path.startswith(folder + "/")
    ]
