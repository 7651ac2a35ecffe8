"""URL builder SDK: canonical delivery URLs, signatures, expiry, `srcset` and `sizes`.

    from imgpipe.client import ImageUrls

    urls = ImageUrls("https://images.example.com", keys={"k2": "…secret…"})
    urls.url("uploads/acme/cat.jpg", preset="thumb", fm="webp")   # unsigned: a preset, fm, dpr 1/2/3
    urls.url("uploads/acme/cat.jpg", preset="thumb", v=3)     # signed: v, dl, any other dpr need one
    urls.url("uploads/acme/cat.jpg", w=640, fit="cover", h=480, expires_in=3600)   # signed, expires
    urls.srcset("uploads/acme/cat.jpg", fm="webp")            # a width ladder: "… 200w, … 240w, …"
    urls.srcset("uploads/acme/cat.jpg", w=400)                # density variants: "… 1x, … 2x, … 3x"

Every URL is written in the canonical form the edge computes (defaults dropped, values normalised, keys
sorted), so the browser's cache, CloudFront's and the stored rendition all see one spelling. Parameters
are checked by the same parser as the edge's Python twin, so a URL this builds is never refused as
malformed. Density variants carry `dpr`, and the engine lowers the encoding quality as dpr rises (a 2x
image at q=75 is encoded at 65, 3x at 60; never below 30): dense screens hide the artefacts, and the
bytes stay close to the 1x image's.

Under `presets-unsigned` a URL goes unsigned only when the edge would serve it so: a named preset varied
over the closed set `imgpipe.delivery.unsigned_preset` allows (any `fm`, a `dpr` of 1, 2 or 3 or the
preset's own). Everything else is signed, or refused with SigningKeyMissingError when there are no keys.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import quote

from imgpipe.core.keys import canonical_path, validate_key
from imgpipe.core.signing import sign
from imgpipe.core.spec import DEFAULT_PRESETS, MAX_SIDE, TransformSpec
from imgpipe.delivery import (
    DEFAULT_SIGNING_POLICY,
    UNSIGNED_DPR_LADDER,
    UNSIGNED_VARIES,
    SigningPolicy,
    parse_signing_keys,
    preset_alone,
    unsigned_preset,
    viewer_query,
)

ParamValue = str | int | float | bool | Sequence[int | float] | None

DEFAULT_MIN_WIDTH: Final = 200
DEFAULT_MAX_WIDTH: Final = 3200
# Each step of the ladder is at most this much wider than the last, as a fraction either side of a
# width: 0.1 means a browser never picks an image more than ~20 % larger than it needs.
DEFAULT_TOLERANCE: Final = 0.1
DEFAULT_DPRS: Final = (1, 2, 3)


class SigningKeyMissingError(ValueError):
    """The URL needs a signature under the policy, and the builder has no key."""


def _text(value: ParamValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, str):
        return value
    return ",".join(str(_text(part)) for part in value)


def build_query(params: Mapping[str, ParamValue]) -> str:
    """A query string of Python values: True → 1, (0.5, 0.3) → 0.5,0.3, None → left out."""
    pairs = []
    for name, value in params.items():
        text = _text(value)
        if text is not None:
            pairs.append(f"{quote(name, safe='')}={quote(text, safe=',')}")
    return "&".join(pairs)


def width_ladder(
    min_width: int = DEFAULT_MIN_WIDTH,
    max_width: int = DEFAULT_MAX_WIDTH,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[int]:
    """Widths from `min_width` to `max_width`, each at most `1 + 2 × tolerance` times the one before.

    Even numbers (half of them stays whole at dpr 0.5 layouts), and the last width is `max_width` itself.
    """
    if not 1 <= min_width <= max_width <= MAX_SIDE:
        raise ValueError(f"expected 1 <= min_width <= max_width <= {MAX_SIDE}, got {min_width}, {max_width}")
    if not 0.01 <= tolerance <= 1:
        raise ValueError(f"tolerance must be from 0.01 to 1, got {tolerance}")
    widths = [min_width]
    while widths[-1] < max_width:
        step = widths[-1] * (1 + 2 * tolerance)
        widths.append(min(max_width, max(widths[-1] + 1, 2 * round(step / 2))))
    return widths


def sizes(rules: Mapping[str, str] | Iterable[tuple[str, str]] = (), default: str = "100vw") -> str:
    """The `sizes` attribute: `(media condition, length)` pairs in order, then the default length.

    sizes({"(min-width: 1024px)": "33vw", "(min-width: 640px)": "50vw"})
    → "(min-width: 1024px) 33vw, (min-width: 640px) 50vw, 100vw"
    """
    pairs = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    parts = []
    for raw_condition, raw_length in [*pairs, ("", default)]:
        condition, length = raw_condition.strip(), raw_length.strip()
        if not length or "," in condition + length:
            raise ValueError(f"a sizes entry needs a length and no comma: {condition!r} {length!r}")
        if condition and not (condition.startswith("(") and condition.endswith(")")):
            condition = f"({condition})"
        parts.append(f"{condition} {length}".strip())
    return ", ".join(parts)


class ImageUrls:
    """Builds delivery URLs for one distribution.

    `keys` is the signing-key document (JSON text or a mapping of key id → secret, the same document as the
    stack's secret); URLs are signed with `key_id`, by default the last key in the document (add the new key
    last when rotating). `policy` is the deployment's signing policy: under `presets-unsigned` (the
    default) a named preset varied only by `fm` and a `dpr` of 1, 2 or 3 (or the preset's own) is left
    unsigned and everything else is signed. `presets` must be the stage's presets (they decide whether a
    request is a preset's picture and what a preset expands to).
    """

    def __init__(
        self,
        base_url: str,
        keys: str | Mapping[str, str | bytes] | None = None,
        *,
        key_id: str | None = None,
        policy: SigningPolicy = DEFAULT_SIGNING_POLICY,
        presets: Mapping[str, str] = DEFAULT_PRESETS,
        default_ttl: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not base_url.startswith(("https://", "http://", "/")):
            raise ValueError(f"base_url must be an http(s) URL or a path, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.policy: SigningPolicy = policy
        self.presets = dict(presets)
        self.default_ttl = default_ttl
        self._clock = clock
        self._secret: bytes | None = None
        self.key_id: str | None = None
        if keys is not None:
            document = json.loads(keys) if isinstance(keys, str) else dict(keys)
            if not isinstance(document, dict):
                raise ValueError("keys must be a JSON object (or mapping) of key id -> secret")
            document = {
                str(name): secret.decode("ascii") if isinstance(secret, bytes) else secret
                for name, secret in document.items()
            }
            secrets = dict(zip(document, parse_signing_keys(document), strict=True))
            if secrets:
                self.key_id = key_id if key_id is not None else list(secrets)[-1]
                if self.key_id not in secrets:
                    raise ValueError(f"no key {self.key_id!r} in the signing-key document")
                self._secret = secrets[self.key_id]
        elif key_id is not None:
            raise ValueError("key_id needs keys")

    # -- one URL -------------------------------------------------------------------------------------

    def url(
        self,
        key: str,
        *,
        sign: bool | None = None,
        expires_in: int | None = None,
        expires_at: int | None = None,
        **params: ParamValue,
    ) -> str:
        """The URL of `key` transformed by `params` (w=800, fm="webp", fp=(0.5, 0.3), preset="thumb", …).

        `sign`: None signs when the policy asks for it (and expiring URLs always, since `exp` means
        nothing without a signature); True always; False never. `expires_in` (seconds from now) or
        `expires_at` (unix time) add `exp`; `default_ttl` applies to signed URLs without either.
        """
        return self.base_url + self.path(
            key, sign=sign, expires_in=expires_in, expires_at=expires_at, **params
        )

    def path(
        self,
        key: str,
        *,
        sign: bool | None = None,
        expires_in: int | None = None,
        expires_at: int | None = None,
        **params: ParamValue,
    ) -> str:
        """`url()` without the base URL: the path and query."""
        validate_key(key)
        for reserved in ("s", "exp"):
            if reserved in params:
                raise ValueError(f"{reserved!r} is set by the builder; use sign=, expires_in= or expires_at=")
        if expires_in is not None and expires_at is not None:
            raise ValueError("give expires_in or expires_at, not both")
        spec = TransformSpec.parse(build_query(params), self.presets)
        base = unsigned_preset(spec, self.presets)
        preset_only = base is not None
        needs_signature = self.policy == "required" or (self.policy == "presets-unsigned" and not preset_only)
        expiry = expires_at
        if expires_in is not None:
            expiry = int(self._clock()) + expires_in
        signing = sign if sign is not None else (needs_signature or expiry is not None)
        if signing and expiry is None and self.default_ttl is not None:
            expiry = int(self._clock()) + self.default_ttl
        if expiry is not None:
            spec = spec.model_copy(update={"exp": TransformSpec.parse(f"exp={expiry}").exp})
        path = canonical_path(key)
        if signing:
            if self._secret is None:
                raise SigningKeyMissingError(
                    f"this URL needs a signature ({self._why_signed(spec, expiry)}) under the"
                    f" {self.policy!r} policy, and the builder has no keys: build it on a server that"
                    " holds the signing keys (pass keys= to ImageUrls)"
                )
            spec = spec.model_copy(update={"s": sign_spec(path, spec, self._secret)})
        query = viewer_query(spec, preset_base=base if not signing else None)
        return path + (f"?{query}" if query else "")

    def _preset_base(self, spec: TransformSpec) -> TransformSpec | None:
        return preset_alone(spec, self.presets)

    def _why_signed(self, spec: TransformSpec, expiry: int | None) -> str:
        if self.policy == "required":
            return "every URL does"
        if expiry is not None:
            return "an expiring URL does"
        base = self._preset_base(spec)
        if base is None:
            return "a transformation without a named preset does"
        named = [
            name
            for name in TransformSpec.model_fields
            if name not in UNSIGNED_VARIES
            and name not in ("preset", "s")
            and getattr(spec, name) != getattr(base, name)
        ]
        if spec.dpr != base.dpr and spec.dpr not in UNSIGNED_DPR_LADDER:
            named.insert(0, "dpr")
        ladder = ", ".join(_text(dpr) or "" for dpr in UNSIGNED_DPR_LADDER)
        return (
            f"{', '.join(named)} on preset {spec.preset!r}: an unsigned preset URL may vary only fm and"
            f" a dpr of {ladder} (or the preset's own)"
        )

    # -- responsive images ---------------------------------------------------------------------------

    def srcset(
        self,
        key: str,
        *,
        widths: Sequence[int] | None = None,
        min_width: int = DEFAULT_MIN_WIDTH,
        max_width: int = DEFAULT_MAX_WIDTH,
        tolerance: float = DEFAULT_TOLERANCE,
        aspect_ratio: tuple[int | float, int | float] | None = None,
        dprs: Sequence[int | float] = DEFAULT_DPRS,
        sign: bool | None = None,
        expires_in: int | None = None,
        expires_at: int | None = None,
        **params: ParamValue,
    ) -> str:
        """A `srcset` value.

        With a fixed size (`w` or `h` in `params`, or a preset alone): density variants, `… 1x, … 2x, …`,
        one per `dprs` entry (the engine lowers q as dpr rises); a preset's variants stay unsigned for
        the dprs of the unsigned ladder (1, 2, 3: the default `dprs`), any other dpr is signed. Otherwise
        a width ladder, `… 200w, …`, from `widths` or from `min_width`..`max_width` with `tolerance`;
        `aspect_ratio=(16, 9)` adds the matching `h` (and `fit=cover` unless `fit` is given).
        """

        def url(**extra: ParamValue) -> str:
            return self.url(key, sign=sign, expires_in=expires_in, expires_at=expires_at, **params, **extra)

        if "dpr" in params:
            raise ValueError("srcset sets dpr itself; leave it out of params")
        fixed = params.get("w") is not None or params.get("h") is not None
        if fixed or (params.get("preset") is not None and widths is None and aspect_ratio is None):
            entries = []
            for dpr in dprs:
                if not 1 <= dpr <= 4:
                    raise ValueError(f"a dpr is from 1 to 4, got {dpr}")
                # dpr=1 is dropped from a canonical query, but kept on a preset whose own dpr differs
                entries.append(f"{url(dpr=dpr)} {_text(float(dpr))}x")
            return ", ".join(entries)
        ladder = list(widths) if widths is not None else width_ladder(min_width, max_width, tolerance)
        entries = []
        for width in ladder:
            extra: dict[str, ParamValue] = {"w": width}
            if aspect_ratio is not None:
                ratio_w, ratio_h = aspect_ratio
                if ratio_w <= 0 or ratio_h <= 0:
                    raise ValueError(f"aspect_ratio needs two positive numbers, got {aspect_ratio}")
                extra["h"] = max(1, round(width * ratio_h / ratio_w))
                if params.get("fit") is None:
                    extra["fit"] = "cover"
            entries.append(f"{url(**extra)} {width}w")
        return ", ".join(entries)

    sizes = staticmethod(sizes)


def sign_spec(path: str, spec: TransformSpec, secret: bytes) -> str:
    """The signature of a request: over the canonical path and query, `exp` included."""
    return sign(path, spec.canonical(), secret)
