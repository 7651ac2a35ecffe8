"""The resize function's settings from the environment, and what the handler builds from them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from infra.constants import (
    ENV_DEADLINE_MARGIN_MS,
    ENV_IMAGES_TABLE,
    ENV_MAX_INLINE_BYTES,
    ENV_ORIGINALS_BUCKET,
    ENV_PRESETS,
    ENV_RENDER_TIME_BUDGET_MS,
    ENV_RESIZE_LIMITS,
    ENV_SIGNING_KEYS,
    ENV_SIGNING_POLICY,
    ENV_TRANSFORMED_BUCKET,
)
from resize.handler import config_from, signing_key_source
from resize.settings import DEFAULT_MAX_INLINE_BYTES, ResizeSettings

BASE = {ENV_ORIGINALS_BUCKET: "originals", ENV_TRANSFORMED_BUCKET: "transformed"}


def test_defaults() -> None:
    settings = ResizeSettings.from_env(BASE)
    assert settings.signing_policy == "presets-unsigned"
    assert settings.max_inline_bytes == DEFAULT_MAX_INLINE_BYTES
    assert settings.images_table is None
    config = config_from(settings)
    assert config.render_time_budget_s is None
    assert config.deadline_margin_s == 1.5
    assert config.source_prefixes == ("uploads/", "batches/")


def test_every_setting_is_read() -> None:
    environ = {
        **BASE,
        ENV_IMAGES_TABLE: "images",
        ENV_PRESETS: json.dumps({"hero": "w=1920&h=600&fit=cover"}),
        ENV_SIGNING_POLICY: " Required ",
        ENV_SIGNING_KEYS: json.dumps({"k1": "a-local-signing-key-0123456789"}),
        ENV_MAX_INLINE_BYTES: "1000000",
        ENV_RENDER_TIME_BUDGET_MS: "8000",
        ENV_DEADLINE_MARGIN_MS: "500",
        ENV_RESIZE_LIMITS: json.dumps({"max_pixels": 1000, "max_output_side": 2000}),
    }
    settings = ResizeSettings.from_env(environ)
    config = config_from(settings)
    assert settings.images_table == "images"
    assert config.presets == {"hero": "w=1920&h=600&fit=cover"}
    assert config.policy == "required"
    assert config.max_inline_bytes == 1_000_000
    assert (config.render_time_budget_s, config.deadline_margin_s) == (8.0, 0.5)
    assert (config.limits.max_pixels, config.limits.max_output_side) == (1000, 2000)
    assert list(signing_key_source(settings, session=None)()) == [b"a-local-signing-key-0123456789"]


@pytest.mark.parametrize(
    "environ",
    [
        {ENV_ORIGINALS_BUCKET: "originals"},
        {**BASE, ENV_SIGNING_POLICY: "sometimes"},
        {**BASE, ENV_SIGNING_POLICY: "required"},  # and no keys
        {**BASE, ENV_PRESETS: json.dumps({"bad": "w=0"})},
        {**BASE, ENV_SIGNING_KEYS: json.dumps({"k1": "short"})},
        {**BASE, ENV_MAX_INLINE_BYTES: "6000000"},  # 8 MB once base64-encoded
        {**BASE, ENV_RENDER_TIME_BUDGET_MS: "0"},
        {**BASE, ENV_RESIZE_LIMITS: json.dumps({"max_pixelz": 1})},
        {**BASE, ENV_RESIZE_LIMITS: "[1]"},
    ],
)
def test_a_wrong_setting_stops_the_cold_start(environ: dict[str, str]) -> None:
    with pytest.raises((ValidationError, ValueError)):
        ResizeSettings.from_env(environ)


def test_without_keys_nothing_verifies() -> None:
    assert list(signing_key_source(ResizeSettings.from_env(BASE), session=None)()) == []


def test_the_render_thread_joins_the_requests_trace() -> None:
    import threading  # noqa: PLC0415

    from aws_xray_sdk import global_sdk_config  # noqa: PLC0415
    from aws_xray_sdk.core import xray_recorder  # noqa: PLC0415

    from resize.handler import with_trace_context  # noqa: PLC0415

    # Powertools switches the SDK off outside Lambda; this test needs it on, as it is in Lambda.
    enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    seen: list[object] = []
    try:
        segment = xray_recorder.begin_segment("resize-test", sampling=1)
        try:
            work = with_trace_context(xray_recorder.get_trace_entity)
            thread = threading.Thread(target=lambda: seen.append(work()))
            thread.start()
            thread.join()
        finally:
            xray_recorder.end_segment()
    finally:
        global_sdk_config.set_sdk_enabled(enabled)
    assert seen == [segment]
