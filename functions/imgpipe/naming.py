"""SEO file names: one rule for the record's `seo_name`, the `Image Processed` event and the export.

`seo_name` (ingest, once per image) takes its words from the upload's own file name when the name says
something (not a camera counter such as `IMG_0042` or `DSC01234`), else from the image's best tags (the
tagger's, best first); then the taken-at date `YYYY-MM-DD` when known. Words are `[a-z0-9]` joined by `-`,
accents folded, no stop words (English function words and words that describe the file rather than the
picture), whole words only. The export names each file `{seo_name}.{extension of the output format}`,
with `-2`, `-3`, ... when that name is already used in the batch (`BatchNames`); every name has at most
`MAX_NAME` characters including the extension. Pure: no AWS, no environment.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date

MAX_NAME = 60
FALLBACK_WORD = "image"
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif", "tiff": "tif"}
_STOP_TEXT = """
    a an the and or but nor of in on at to for from by with without into onto over under as is are was were
    be been being it its this that these those there here my your our their his her
    image images img photo photos picture pictures pic pics file files copy edited final untitled
    jpeg jpg png webp avif gif heic heif tif tiff bmp raw dsc dscn dscf pxl
    landscape portrait square animated transparent offline
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")
# What cameras, phones and screenshot tools call files: a prefix, a counter, perhaps a copy suffix.
_CAMERA_COUNTER = re.compile(
    r"(?:img|dsc[fn]?|pxl|mvimg|vid|image|photo|pic|screenshot|p|dji|gopr|sam|wp)?[-_ ]*[0-9][0-9_ -]*"
    r"(?:-?(?:edited|copy|\(\d+\)|\d+))*",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def words(text: str) -> list[str]:
    """ASCII words of `text`: accents folded (`é` → `e`), everything else a separator."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _WORD.findall(ascii_text)


def _date_text(taken_at: str | None) -> str | None:
    match = _DATE.match(taken_at or "")
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
    except ValueError:
        return None


def extension(fmt: str) -> str:
    return EXTENSIONS.get(fmt.lower(), re.sub(r"[^a-z0-9]", "", fmt.lower()) or "bin")


def _fit(parts: Sequence[str], budget: int) -> str:
    """Whole words, in order, while they fit; a single word longer than the budget is cut."""
    chosen: list[str] = []
    length = 0
    for part in parts:
        extra = len(part) + (1 if chosen else 0)
        if length + extra > budget:
            if not chosen:
                return part[:budget]
            continue
        chosen.append(part)
        length += extra
    return "-".join(chosen)


def _content_words(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    content: list[str] = []
    for text in texts:
        for word in words(text):
            if word in STOP_WORDS or word in seen or word.isdigit():
                continue
            seen.add(word)
            content.append(word)
    return content


def base_name(tags: Iterable[str], *, taken_at: str | None = None, fallback: str | None = None) -> str:
    """The slug without extension or suffix, from the tags in their order (best first); `fallback` (the
    upload's own name, say) only when no tag has a content word."""
    content = _content_words(tags) or _content_words([fallback] if fallback else []) or [FALLBACK_WORD]
    day = _date_text(taken_at)
    # The date goes last and is kept whole: it is what tells a series of similar pictures apart.
    budget = MAX_NAME - len(".avif") - len("-999")
    if day is None:
        return _fit(content, budget)
    return f"{_fit(content, budget - len(day) - 1)}-{day}"


def own_name(upload_name: str | None) -> str | None:
    """The upload's file name without folders and extension, or None when it is a camera counter."""
    if not upload_name:
        return None
    stem = upload_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.strip(".") else stem
    if not stem.strip() or _CAMERA_COUNTER.fullmatch(stem.strip()):
        return None
    return stem


def seo_name(tags: Iterable[str], *, upload_name: str | None = None, taken_at: str | None = None) -> str:
    """The image's SEO name without extension: the one the record, the event and the export carry."""
    own = own_name(upload_name)
    if own is not None and _content_words([own]):
        return base_name([own], taken_at=taken_at)
    return base_name(tags, taken_at=taken_at)


def seo_filename(
    tags: Iterable[str], fmt: str, *, taken_at: str | None = None, fallback: str | None = None
) -> str:
    return f"{base_name(tags, taken_at=taken_at, fallback=fallback)}.{extension(fmt)}"


class BatchNames:
    """Hands out names that are unique within one batch (case-insensitively, as file systems compare)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def claim(self, base: str, fmt: str) -> str:
        ext = extension(fmt)
        number = 1
        while True:
            suffix = "" if number == 1 else f"-{number}"
            room = MAX_NAME - len(ext) - 1 - len(suffix)
            stem = base[:room].rstrip("-") or FALLBACK_WORD
            name = f"{stem}{suffix}.{ext}"
            if name.lower() not in self._used:
                self._used.add(name.lower())
                return name
            number += 1
