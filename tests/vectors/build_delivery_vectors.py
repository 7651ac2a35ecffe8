"""Write tests/vectors/delivery.json: the cases both the edge function (JavaScript) and imgpipe.delivery run.

Every expectation below is written by hand. The script only fills in what is mechanical: signatures (the
`{k1}` placeholders: HMAC over the expected canonical path and query, or over the text after `:`), the
rewritten URI (the expected object key, percent-encoded) and the forwarded query (canonical, `preset`,
`s`).

    .venv/bin/python tests/vectors/build_delivery_vectors.py     # then review the diff of delivery.json
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imgpipe.core.spec import DEFAULT_PRESETS
from imgpipe.delivery import DEFAULT_SIGNING_POLICY

OUT = Path(__file__).with_name("delivery.json")
NOW = 1_700_000_000
KEYS = {
    "k1": "imgpipe-test-key-one-0123456789abcdef",
    "k2": "imgpipe-test-key-two-0123456789abcdef",
    "k0": "imgpipe-retired-key-0123456789abcdef",  # not in the store: signatures with it are invalid
}
ACTIVE = ["k1", "k2"]
CAT = "/uploads/acme/cat.jpg"
CAT_KEY = "uploads/acme/cat.jpg"
MODERN = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"


def ok(
    source: str, canonical: str, key_tail: str, fmt: str, verdict: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "status": 200,
        "source": source,
        "canonical": canonical,
        "key": f"{source}/{key_tail}",
        "format": fmt,
        "negotiated": extra.pop("negotiated", True),
        "verdict": verdict,
        **extra,
    }


def refused(status: int, code: str, param: str) -> dict[str, Any]:
    return {"status": status, "code": code, "param": param}


def bad(param: str) -> dict[str, Any]:
    return refused(400, "bad-parameter", param)


def case(
    name: str,
    uri: str,
    query: str | None,
    expect: dict[str, Any],
    *,
    accept: str | None = None,
    edge: dict[str, Any] | None = None,
    signed: tuple[str, str] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "request": {"uri": uri, "query": query, "accept": accept}}
    if edge:
        entry["edge"] = edge
    entry["expect"] = expect
    if signed:
        entry["signed"] = {"source": signed[0], "canonical": signed[1]}
    return entry


CASES = [
    # --- named presets, unsigned under the default policy -------------------------------------------
    case(
        "preset, unsigned, AVIF browser",
        CAT,
        "preset=thumb",
        ok(
            CAT_KEY, "fit=cover&g=auto&h=200&w=200", "fit=cover&fm=avif&g=auto&h=200&w=200", "avif", "missing"
        ),
        accept=MODERN,
    ),
    case(
        "preset with delivery companions",
        CAT,
        "preset=medium&dpr=2.0&fm=WEBP",
        ok(CAT_KEY, "dpr=2&fm=webp&w=800", "dpr=2&fm=webp&w=800", "webp", "missing", negotiated=False),
    ),
    case(
        "WebP-only browser",
        CAT,
        "preset=small",
        ok(CAT_KEY, "w=400", "fm=webp&w=400", "webp", "missing"),
        accept="image/webp,*/*",
    ),
    case(
        "no modern format, JPEG source",
        CAT,
        "preset=small",
        ok(CAT_KEY, "w=400", "fm=jpeg&w=400", "jpeg", "missing"),
        accept="*/*",
    ),
    case(
        "no modern format, PNG source keeps alpha",
        "/uploads/acme/logo.PNG",
        "preset=small",
        ok("uploads/acme/logo.PNG", "w=400", "fm=png&w=400", "png", "missing"),
        accept="image/*",
    ),
    case(
        "GIF source stays animated in WebP",
        "/uploads/acme/party.gif",
        "preset=small",
        ok("uploads/acme/party.gif", "w=400", "fm=webp&w=400", "webp", "missing"),
        accept=MODERN,
    ),
    case(
        "GIF source, no Accept header",
        "/uploads/acme/party.gif",
        "preset=small",
        ok("uploads/acme/party.gif", "w=400", "fm=gif&w=400", "gif", "missing"),
    ),
    case(
        "AVIF refused with q=0",
        CAT,
        "preset=small",
        ok(CAT_KEY, "w=400", "fm=webp&w=400", "webp", "missing"),
        accept="image/avif;q=0,image/webp",
    ),
    case(
        "a refusal anywhere wins",
        CAT,
        "preset=small",
        ok(CAT_KEY, "w=400", "fm=webp&w=400", "webp", "missing"),
        accept="image/avif, image/webp;q=0.5, image/avif;q=0",
    ),
    case(
        "a malformed q drops its entry",
        CAT,
        "preset=small",
        ok(CAT_KEY, "w=400", "fm=webp&w=400", "webp", "missing"),
        accept="image/avif;q=2,image/webp",
    ),
    case(
        "Accept with spaces and parameters",
        CAT,
        "preset=small",
        ok(CAT_KEY, "w=400", "fm=webp&w=400", "webp", "missing"),
        accept="text/html, image/webp ; q=0.9, */*;q=0.1",
    ),
    # Unsigned, a preset varies only by format and the DPR ladder (1, 2, 3): a closed set of renders.
    case(
        "an unsigned preset with an exp needs a signature",
        CAT,
        "preset=small&exp=1700003600",
        refused(403, "signature-required", "s"),
    ),
    case(
        "a signed preset past its exp",
        CAT,
        "preset=thumb&exp=1699999999&s={k1}",
        refused(403, "expired", "exp"),
        signed=(CAT_KEY, "exp=1699999999&fit=cover&g=auto&h=200&w=200"),
    ),
    case(
        "a signed preset before its exp",
        CAT,
        "preset=small&exp=1700003600&s={k1}",
        ok(CAT_KEY, "exp=1700003600&w=400", "fm=jpeg&w=400", "jpeg", "valid"),
    ),
    case(
        "preset on the DPR ladder, unsigned",
        CAT,
        "preset=small&dpr=3&fm=avif",
        ok(CAT_KEY, "dpr=3&fm=avif&w=400", "dpr=3&fm=avif&w=400", "avif", "missing", negotiated=False),
    ),
    case(
        "dpr 1 spelt out is the ladder's first step",
        CAT,
        "preset=small&dpr=1.00",
        ok(CAT_KEY, "w=400", "fm=jpeg&w=400", "jpeg", "missing"),
    ),
    case(
        "a dpr off the ladder needs a signature",
        CAT,
        "preset=small&dpr=2.5",
        refused(403, "signature-required", "s"),
    ),
    case("dpr 4 needs a signature", CAT, "preset=small&dpr=4", refused(403, "signature-required", "s")),
    case(
        "a dpr off the ladder, signed",
        CAT,
        "preset=small&dpr=2.5&s={k1}",
        ok(CAT_KEY, "dpr=2.5&w=400", "dpr=2.5&fm=jpeg&w=400", "jpeg", "valid"),
    ),
    case(
        "a cache-buster needs a signature", CAT, "preset=small&v=2", refused(403, "signature-required", "s")
    ),
    case(
        "a download name needs a signature",
        CAT,
        "preset=small&dl=cat.jpg",
        refused(403, "signature-required", "s"),
    ),
    case(
        "restating a preset's own value changes nothing",
        CAT,
        "preset=thumb&w=200&fit=cover",
        ok(
            CAT_KEY, "fit=cover&g=auto&h=200&w=200", "fit=cover&fm=jpeg&g=auto&h=200&w=200", "jpeg", "missing"
        ),
    ),
    case(
        "preset plus a look parameter needs a signature",
        CAT,
        "preset=thumb&blur=5",
        refused(403, "signature-required", "s"),
    ),
    case(
        "preset plus v and dl, signed",
        CAT,
        "dl=my-photo.jpg&v=2&preset=small&s={k1}",
        ok(CAT_KEY, "dl=my-photo.jpg&v=2&w=400", "dl=my-photo.jpg&fm=jpeg&v=2&w=400", "jpeg", "valid"),
    ),
    case("unknown preset", CAT, "preset=huge", bad("preset")),
    case("preset name with a space", CAT, "preset=th%20umb", bad("preset")),
    case(
        "presets from the store replace the defaults",
        CAT,
        "preset=hero",
        ok(CAT_KEY, "fit=cover&h=600&w=1920", "fit=cover&fm=jpeg&h=600&w=1920", "jpeg", "missing"),
        edge={"presets": {"hero": "w=1920&h=600&fit=cover"}},
    ),
    case(
        "a default preset absent from the store",
        CAT,
        "preset=thumb",
        bad("preset"),
        edge={"presets": {"hero": "w=1920&h=600&fit=cover"}},
    ),
    case(
        "a stored preset that does not parse",
        CAT,
        "preset=broken",
        bad("preset"),
        edge={"presets": {"broken": "w=0"}},
    ),
    case(
        "a stored preset may not carry a signature",
        CAT,
        "preset=sneaky",
        bad("preset"),
        edge={"presets": {"sneaky": "w=10&s=abc"}},
    ),
    # --- signatures ----------------------------------------------------------------------------------
    case(
        "signed with the current key",
        CAT,
        "w=800&fm=webp&s={k1}",
        ok(CAT_KEY, "fm=webp&w=800", "fm=webp&w=800", "webp", "valid", negotiated=False),
    ),
    case(
        "signed with the other active key (rotation)",
        CAT,
        "w=800&fm=webp&s={k2}",
        ok(CAT_KEY, "fm=webp&w=800", "fm=webp&w=800", "webp", "valid", negotiated=False),
    ),
    case(
        "signed with a retired key",
        CAT,
        "w=800&fm=webp&s={k0}",
        refused(403, "signature-invalid", "s"),
        signed=(CAT_KEY, "fm=webp&w=800"),
    ),
    case(
        "reordered and respelt parameters keep their signature",
        CAT,
        "fm=jpg&w=0800&s={k1}",
        ok(CAT_KEY, "fm=jpeg&w=800", "fm=jpeg&w=800", "jpeg", "valid", negotiated=False),
    ),
    case(
        "empty pieces carry nothing",
        CAT,
        "&&w=800&&fm=webp&&s={k1}",
        ok(CAT_KEY, "fm=webp&w=800", "fm=webp&w=800", "webp", "valid", negotiated=False),
    ),
    case(
        "a percent-encoded parameter name",
        CAT,
        "%77=800&s={k1}",
        ok(CAT_KEY, "w=800", "fm=jpeg&w=800", "jpeg", "valid"),
    ),
    case("tampered width", CAT, "w=801&fm=webp&s={k1:fm=webp&w=800}", refused(403, "signature-invalid", "s")),
    case(
        "a signature for another image",
        "/uploads/acme/dog.jpg",
        "w=800&s={k1}",
        refused(403, "signature-invalid", "s"),
        signed=(CAT_KEY, "w=800"),
    ),
    case("a malformed signature", CAT, "w=800&s=abc", refused(403, "signature-invalid", "s")),
    case("a signature too long for the parameter", CAT, "w=800&s=" + "A" * 129, bad("s")),
    case("no signature where one is needed", CAT, "w=800&fm=webp", refused(403, "signature-required", "s")),
    case(
        "signed but expired",
        CAT,
        "w=800&exp=1699999999&s={k1}",
        refused(403, "expired", "exp"),
        signed=(CAT_KEY, "exp=1699999999&w=800"),
    ),
    case(
        "expiry is inclusive of the second",
        CAT,
        "w=1&exp=1700000000&s={k1}",
        refused(403, "expired", "exp"),
        signed=(CAT_KEY, "exp=1700000000&w=1"),
    ),
    case(
        "signed with a future expiry",
        CAT,
        "w=800&exp=1700003600&s={k1}",
        ok(CAT_KEY, "exp=1700003600&w=800", "fm=jpeg&w=800", "jpeg", "valid"),
    ),
    case(
        "exp changed after signing",
        CAT,
        "w=800&exp=1700099999&s={k1:exp=1700003600&w=800}",
        refused(403, "signature-invalid", "s"),
    ),
    case("an exp beyond the allowed range", CAT, "w=800&exp=99999999999999", bad("exp")),
    case(
        "explicit fm=auto is negotiated and signed without fm",
        CAT,
        "w=640&fm=auto&s={k1}",
        ok(CAT_KEY, "w=640", "fm=avif&w=640", "avif", "valid"),
        accept=MODERN,
    ),
    case(
        "a wrong signature on a preset",
        CAT,
        "preset=thumb&s=" + "A" * 43,
        refused(403, "signature-invalid", "s"),
    ),
    case(
        "no keys in the store",
        CAT,
        "w=800&s={k1}",
        refused(403, "signature-invalid", "s"),
        edge={"keys": []},
        signed=(CAT_KEY, "w=800"),
    ),
    case(
        "policy required: unsigned preset",
        CAT,
        "preset=thumb",
        refused(403, "signature-required", "s"),
        edge={"policy": "required"},
    ),
    case(
        "policy required: signed preset",
        CAT,
        "preset=thumb&s={k1}",
        ok(CAT_KEY, "fit=cover&g=auto&h=200&w=200", "fit=cover&fm=jpeg&g=auto&h=200&w=200", "jpeg", "valid"),
        edge={"policy": "required"},
    ),
    case(
        "policy off: unsigned transformation",
        CAT,
        "w=800&blur=2",
        ok(CAT_KEY, "blur=2&w=800", "blur=2&fm=jpeg&w=800", "jpeg", None),
        edge={"policy": "off"},
    ),
    case(
        "policy off ignores a wrong signature",
        CAT,
        "w=800&s=abc",
        ok(CAT_KEY, "w=800", "fm=jpeg&w=800", "jpeg", None),
        edge={"policy": "off"},
    ),
    case(
        "no policy in the store: a signature is required (fails closed)",
        CAT,
        "preset=thumb",
        refused(403, "signature-required", "s"),
        edge={"policy": None},
    ),
    case(
        "no policy in the store: a signature still verifies",
        CAT,
        "w=800&s={k1}",
        ok(CAT_KEY, "w=800", "fm=jpeg&w=800", "jpeg", "valid"),
        edge={"policy": None},
    ),
    case(
        "no presets in the store: no preset is known",
        CAT,
        "preset=small",
        bad("preset"),
        edge={"presets": None},
    ),
    case(
        "an unknown policy is treated as required",
        CAT,
        "preset=thumb",
        refused(403, "signature-required", "s"),
        edge={"policy": "sometimes"},
    ),
    # --- bad input ends at the edge ------------------------------------------------------------------
    case("duplicated parameter", CAT, "w=800&w=900", bad("w")),
    case("duplicated through percent-encoding", CAT, "w=800&%77=900", bad("w")),
    case("unknown parameter", CAT, "w=800&width=900", bad("width")),
    case("__proto__ is not a parameter", CAT, "__proto__=1", bad("__proto__")),
    case("constructor is not a parameter", CAT, "constructor=1", bad("constructor")),
    case("constructor is not a fit", CAT, "fit=constructor", bad("fit")),
    case("huge width", CAT, "w=99999", bad("w")),
    case("enormous width", CAT, "w=100000000000000000000000", bad("w")),
    case("negative width", CAT, "w=-1", bad("w")),
    case("negative height", CAT, "h=-200", bad("h")),
    case("zero width", CAT, "w=0", bad("w")),
    case("fractional width", CAT, "w=1.5", bad("w")),
    case("exponent width", CAT, "w=1e3", bad("w")),
    case("dpr just over 4", CAT, "dpr=4.001", bad("dpr")),
    case("dpr under 1", CAT, "dpr=0.99", bad("dpr")),
    case("the first bad field in model order is reported", CAT, "q=500&dpr=9", bad("dpr")),
    case("rotation not a multiple of 90", CAT, "rot=45", bad("rot")),
    case("unsupported output format", CAT, "fm=bmp", bad("fm")),
    case("not a colour", CAT, "bg=ggg", bad("bg")),
    case("focal point with one value", CAT, "fp=0.5", bad("fp")),
    case("focal point outside 0..1", CAT, "fp=1.5,0.5", bad("fp")),
    case("crop with a zero extent", CAT, "crop=0,0,0,10", bad("crop")),
    case("dot file download name", CAT, "dl=.hidden", bad("dl")),
    case("overlay key climbing out", CAT, "mark=../x.png", bad("mark")),
    case("empty value", CAT, "w=", bad("w")),
    case("a parameter without a name", CAT, "=800", bad("query")),
    case("query too long", CAT, "w=800&txt=" + "a" * 2100, bad("query")),
    case("canonical form too long", CAT, "mark=" + "!" * 500 + "&txt=" + "!" * 200, bad("query")),
    case("non-UTF-8 query value", CAT, "txt=%FF", bad("txt")),
    case("overlong UTF-8 in a value", CAT, "txt=%C0%AF", bad("txt")),
    case("non-UTF-8 parameter name", CAT, "%FF=1", bad("query")),
    case("parent segment in the key", "/uploads/../secret.jpg", "preset=thumb", bad("key")),
    case("encoded parent segment", "/uploads/%2E%2E/secret.jpg", "preset=thumb", bad("key")),
    case("encoded slash", "/uploads%2Facme/cat.jpg", "preset=thumb", bad("key")),
    case("encoded slash, lower case", "/uploads%2facme/cat.jpg", "preset=thumb", bad("key")),
    case("encoded backslash", "/uploads%5Cacme.jpg", "preset=thumb", bad("key")),
    case("empty segment", "/uploads//cat.jpg", "preset=thumb", bad("key")),
    case("no image", "/", "preset=thumb", bad("key")),
    case("non-UTF-8 path", "/caf%E9.jpg", "preset=thumb", bad("key")),
    case("a bare % in the path", "/100%.jpg", "preset=thumb", bad("key")),
    case("a control character in the key", "/cat%0A.jpg", "preset=thumb", bad("key")),
    case("key longer than S3 allows", "/" + "a" * 1100 + ".jpg", "preset=thumb", bad("key")),
    case("the path is checked before the query", "/uploads/../x.jpg", "w=-1", bad("key")),
    # --- only originals under uploads/ are images: no URL names an internal object (issue 13) ---------
    case(
        "the mezzanine is not an image",
        "/mezzanine/uploads/alice/big.jpg",
        "preset=small&fm=jpeg",
        refused(404, "no-source", "key"),
    ),
    case(
        "the mezzanine is not an image, even signed",
        "/mezzanine/uploads/alice/big.jpg",
        "w=400&fm=jpeg&s={k1}",
        refused(404, "no-source", "key"),
        signed=("mezzanine/uploads/alice/big.jpg", "fm=jpeg&w=400"),
    ),
    case(
        "an export is not an image",
        "/exports/acme/b1/e1.zip",
        "preset=small",
        refused(404, "no-source", "key"),
    ),
    case(
        "quarantine is not served",
        "/quarantine/acme/bad.jpg",
        "preset=small",
        refused(404, "no-source", "key"),
    ),
    case("a key beside uploads/", "/uploadsx/acme/cat.jpg", "preset=small", refused(404, "no-source", "key")),
    # --- batch members have their own top-level prefix, batches/ (issue 13.14): originals too --------
    case(
        "a batch member is an original",
        "/batches/acme/b-42/cat.jpg",
        "preset=small",
        ok("batches/acme/b-42/cat.jpg", "w=400", "fm=avif&w=400", "avif", "missing"),
        accept=MODERN,
    ),
    case(
        "a batch member, signed",
        "/batches/acme/b-42/cat.jpg",
        "w=300&s={k1}",
        ok("batches/acme/b-42/cat.jpg", "w=300", "fm=jpeg&w=300", "jpeg", "valid"),
    ),
    case(
        "a key beside batches/", "/batchesx/acme/b/cat.jpg", "preset=small", refused(404, "no-source", "key")
    ),
    case(
        "batches/ is case-sensitive too",
        "/Batches/acme/b/cat.jpg",
        "preset=small",
        refused(404, "no-source", "key"),
    ),
    case(
        "the mezzanine of a batch member is not an image",
        "/mezzanine/batches/acme/b/big.jpg",
        "w=400&fm=jpeg&s={k1}",
        refused(404, "no-source", "key"),
        signed=("mezzanine/batches/acme/b/big.jpg", "fm=jpeg&w=400"),
    ),
    case(
        "a quarantined batch member is not served",
        "/quarantine/acme/batches/b/bad.jpg",
        "preset=small",
        refused(404, "no-source", "key"),
    ),
    case("parent segment out of batches/", "/batches/../exports/x.jpg", "preset=thumb", bad("key")),
    case(
        "the prefix is case-sensitive",
        "/Uploads/acme/cat.jpg",
        "preset=small",
        refused(404, "no-source", "key"),
    ),
    case(
        "a rendition key is checked like any key",
        "/cat.jpg/fm=jpeg&w=400",
        "preset=small",
        refused(404, "no-source", "key"),
    ),
    case(
        "a bad query outside uploads/ is still not found",
        "/mezzanine/x.jpg",
        "w=-1",
        refused(404, "no-source", "key"),
    ),
    # --- canonical forms -----------------------------------------------------------------------------
    case(
        "values normalised and defaults dropped",
        CAT,
        "dpr=1.255&blur=2.25&sharp=0&rot=-90&flip=VH&g=North&up=yes&anim=true&gray=0&fit=COVER&w=300&h=300&s={k1}",
        ok(
            CAT_KEY,
            "blur=2.3&dpr=1.26&fit=cover&flip=hv&g=n&h=300&rot=270&up=1&w=300",
            "blur=2.3&dpr=1.26&fit=cover&flip=hv&fm=jpeg&g=n&h=300&rot=270&up=1&w=300",
            "jpeg",
            "valid",
        ),
    ),
    case(
        "every default spelled out is dropped",
        CAT,
        "w=800&dpr=1.0&fit=inside&g=centre&up=0&blur=0.0&rot=360&markpos=se&txtsize=24&anim=1&s={k1}",
        ok(CAT_KEY, "w=800", "fm=jpeg&w=800", "jpeg", "valid"),
    ),
    case(
        "colours",
        CAT,
        "bg=F00&txt=Hi&txtclr=FFFFFFFF&s={k1}",
        ok(CAT_KEY, "bg=ff0000&txt=Hi", "bg=ff0000&fm=jpeg&txt=Hi", "jpeg", "valid"),
    ),
    case(
        "a translucent background",
        CAT,
        "bg=FF000080&w=100&s={k1}",
        ok(CAT_KEY, "bg=ff000080&w=100", "bg=ff000080&fm=jpeg&w=100", "jpeg", "valid"),
    ),
    case(
        "focal point and crop keep their commas",
        CAT,
        "fit=cover&w=300&h=200&fp=0.50,0.2500&crop=10,20,3000,2000&s={k1}",
        ok(
            CAT_KEY,
            "crop=10,20,3000,2000&fit=cover&fp=0.5,0.25&h=200&w=300",
            "crop=10,20,3000,2000&fit=cover&fm=jpeg&fp=0.5,0.25&h=200&w=300",
            "jpeg",
            "valid",
        ),
    ),
    case(
        "text with a plus, UTF-8 and a bang",
        CAT,
        "txt=Hello+W%C3%B6rld%21&s={k1}",
        ok(CAT_KEY, "txt=Hello%20W%C3%B6rld%21", "fm=jpeg&txt=Hello%20W%C3%B6rld%21", "jpeg", "valid"),
    ),
    case(
        "characters JavaScript leaves unescaped",
        CAT,
        "txt=(a*b)'!~&s={k1}",
        ok(CAT_KEY, "txt=%28a%2Ab%29%27%21~", "fm=jpeg&txt=%28a%2Ab%29%27%21~", "jpeg", "valid"),
    ),
    case(
        "a bare % in a value is a percent sign",
        CAT,
        "txt=100%&s={k1}",
        ok(CAT_KEY, "txt=100%25", "fm=jpeg&txt=100%25", "jpeg", "valid"),
    ),
    case(
        "overlay key, position and width",
        CAT,
        "mark=logos/acme%20inc.png&markpos=NorthWest&markw=0.1235&markalpha=100&s={k1}",
        ok(
            CAT_KEY,
            "mark=logos%2Facme%20inc.png&markpos=nw&markw=0.124",
            "fm=jpeg&mark=logos%2Facme%20inc.png&markpos=nw&markw=0.124",
            "jpeg",
            "valid",
        ),
    ),
    case(
        "a preset overridden by a signed parameter",
        CAT,
        "preset=thumb&w=100&s={k1}",
        ok(CAT_KEY, "fit=cover&g=auto&h=200&w=100", "fit=cover&fm=webp&g=auto&h=200&w=100", "webp", "valid"),
        accept="image/webp",
    ),
    case(
        "a UTF-8 key",
        "/uploads/caf%C3%A9/%E3%81%AD%E3%81%93.png",
        "w=200&s={k1}",
        ok("uploads/café/ねこ.png", "w=200", "fm=webp&w=200", "webp", "valid"),
        accept="image/webp",
    ),
    case(
        "raw UTF-8 in the path",
        "/uploads/café.jpg",
        "w=200&s={k1}",
        ok("uploads/café.jpg", "w=200", "fm=jpeg&w=200", "jpeg", "valid"),
    ),
    case(
        "plus and percent in a key",
        "/uploads/a+b%25.jpg",
        "w=100&s={k1}",
        ok("uploads/a+b%.jpg", "w=100", "fm=jpeg&w=100", "jpeg", "valid"),
    ),
    case(
        "parentheses and spaces in a key",
        "/uploads/photo%20(1).jpg",
        "w=100&s={k1}",
        ok("uploads/photo (1).jpg", "w=100", "fm=jpeg&w=100", "jpeg", "valid"),
    ),
    case("no query at all", CAT, None, refused(403, "signature-required", "s")),
    case(
        "no query at all, policy off",
        CAT,
        None,
        ok(CAT_KEY, "", "fm=jpeg", "jpeg", None),
        edge={"policy": "off"},
    ),
]


def signature(path: str, canonical: str, secret: str) -> str:
    text = f"{path}?{canonical}" if canonical else path
    digest = hmac.new(secret.encode("ascii"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def fill(entry: dict[str, Any]) -> dict[str, Any]:
    expect = entry["expect"]
    signed = entry.pop("signed", None) or {
        "source": expect.get("source"),
        "canonical": expect.get("canonical"),
    }
    query = entry["request"]["query"]

    def replace(match: re.Match[str]) -> str:
        key_id, _, text = match.group(1).partition(":")
        canonical = text if text else signed["canonical"]
        return signature("/" + quote(signed["source"] or CAT_KEY, safe="/"), canonical, KEYS[key_id])

    if query is not None:
        entry["request"]["query"] = re.sub(r"\{(k\d(?::[^}]*)?)\}", replace, query)
    if expect["status"] == 200:
        given = dict(p.split("=", 1) for p in (entry["request"]["query"] or "").split("&") if "=" in p)
        s, preset = given.get("s"), given.get("preset")
        expect["uri"] = "/" + quote(expect["key"], safe="/")
        # Forwarded: the canonical query, then the preset's name (the origin's unsigned-preset rule needs
        # it), then the signature.
        parts = (expect["canonical"], f"preset={preset}" if preset else "", f"s={s}" if s else "")
        expect["query"] = "&".join(part for part in parts if part)
    return entry


def main() -> None:
    cases = [fill(entry) for entry in CASES]
    names = [entry["name"] for entry in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    document = {
        "about": (
            "Delivery vectors shared by functions/edge/viewer_request.js (tests/edge/run_vectors.mjs) and "
            "imgpipe.delivery (tests/unit/delivery/test_vectors.py). Written by tests/vectors/"
            "build_delivery_vectors.py: expectations by hand, signatures and encodings computed."
        ),
        "now": NOW,
        # What every deploy writes into the edge's KeyValueStore; a case's `edge` overrides it (null: absent).
        "policy": DEFAULT_SIGNING_POLICY,
        "presets": DEFAULT_PRESETS,
        "keys": KEYS,
        "active_keys": ACTIVE,
        "cases": cases,
    }
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
