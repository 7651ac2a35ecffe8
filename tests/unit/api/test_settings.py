"""The API's settings: read from the stack's environment once, refusing bad values at cold start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings

BASE = {
    "IMGPIPE_ORIGINALS_BUCKET": "originals",
    "IMGPIPE_TRANSFORMED_BUCKET": "transformed",
    "IMGPIPE_IMAGES_TABLE": "images",
}


def test_environment_is_read_into_settings() -> None:
    settings = ApiSettings.from_env(
        {
            **BASE,
            "IMGPIPE_PRESETS": '{"thumb": "w=100"}',
            "IMGPIPE_SIGNING_POLICY": " Required ",
            "IMGPIPE_SIGNING_KEYS": '{"k1": "0123456789abcdef0123"}',
            "IMGPIPE_DELIVERY_BASE_URL": "https://d123.cloudfront.net/",
            "IMGPIPE_TENANT_CLAIM": "custom:org",
            "IMGPIPE_API_PLANS": '{"free": {"monthly_images": 10}}',
            "IMGPIPE_UPLOAD_MAX_BYTES": "1000000",
            "IMGPIPE_EXPORT_MAX_IMAGES": "50",
        }
    )
    assert settings.presets == {"thumb": "w=100"}
    assert settings.signing_policy == "required"
    assert settings.delivery_base_url == "https://d123.cloudfront.net"
    assert settings.tenant_claim == "custom:org"
    assert settings.plans["free"].monthly_images == 10
    assert (settings.upload_max_bytes, settings.export_max_images) == (1_000_000, 50)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMGPIPE_ORIGINALS_BUCKET", ""),
        ("IMGPIPE_SIGNING_POLICY", "sometimes"),
        ("IMGPIPE_PRESETS", '{"thumb": "w=banana"}'),
        ("IMGPIPE_SIGNING_KEYS", '{"k1": "short"}'),
        ("IMGPIPE_DELIVERY_BASE_URL", "ftp://x"),
        ("IMGPIPE_UPLOAD_MAX_BYTES", "60000000"),
        ("IMGPIPE_API_PLANS", '{"pro": {"burst_limit": -1}}'),
    ],
)
def test_a_bad_value_stops_the_cold_start(name: str, value: str) -> None:
    with pytest.raises((ValidationError, ValueError)):
        ApiSettings.from_env({**BASE, name: value})
