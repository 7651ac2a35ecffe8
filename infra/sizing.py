"""The imgpipe Lambdas: handler strings, memory and timeouts, each with the reason for its number.

CDK-free (like `infra.constants`), so the tests read these numbers without starting jsii. The engine's
figures they come from (bench/results, issue 2): peak RSS of a 24 MP JPEG render ≈ 160 MB in-process; a
20 MP 10-bit AVIF source needs ≈ 320 MB (no shrink-on-load for AVIF); the five presets' `render_many` of a
24 MP photo ≈ 270 ms on one x86 core. Lambda gives CPU in proportion to memory (1 769 MB = 1 vCPU), and a
Graviton core is a little slower than the benchmark's x86 core on the codecs, so memory buys time too.
"""

from __future__ import annotations

from typing import Final

INGEST_HANDLER: Final = "ingest.handler.handler"
RESIZE_HANDLER: Final = "resize.handler.handler"
API_HANDLER: Final = "api.handler.handler"

# Ingest: the source limit is 50 MP, so a worst-case AVIF original needs ~0.8 GB decoded, plus the runtime
# (~100 MB with numpy and Pillow) and the eager renditions in flight. 2 GB keeps that headroom and buys
# ~1.15 vCPU, so a 24 MP photo's eager renditions (~270 ms of preset rendering on one x86 core, plus the
# AVIF/WebP encodes and the mezzanine) finish in about a second.
INGEST_MEMORY_MB: Final = 2048
# Worst case for one image (a 50 MP AVIF: slow decode, every preset in every eager format, the mezzanine,
# the S3 and DynamoDB round trips) with a wide margin; a batch of messages runs in one invocation, so the
# timeout scales with the lane's batch size, with a floor for the interactive lane's single message.
PER_IMAGE_BUDGET_SECONDS: Final = 20
MIN_INGEST_TIMEOUT_SECONDS: Final = 60


def ingest_timeout_seconds(batch_size: int) -> int:
    return max(MIN_INGEST_TIMEOUT_SECONDS, batch_size * PER_IMAGE_BUDGET_SECONDS)


# AWS guidance for SQS → Lambda: visibility timeout ≥ 6 × the function timeout (plus the batching window),
# so a message is not delivered again while a throttled or retried invocation still holds it.
VISIBILITY_FACTOR: Final = 6


def visibility_timeout_seconds(batch_size: int, batching_window_seconds: int) -> int:
    return ingest_timeout_seconds(batch_size) * VISIBILITY_FACTOR + batching_window_seconds


# Resize: a miss that renders from the original has the same memory peaks as ingest, and it is on a
# viewer's critical path: ~1.7 vCPU lets the engine's parallel encodes use a second core. The cost per
# render stays about the same because the render gets faster in proportion to the memory.
RESIZE_MEMORY_MB: Final = 3008
# Below CloudFront's 30 s origin read timeout, so the function's own 503 (it gives up 1.5 s before its
# deadline) reaches the viewer instead of CloudFront's 504.
RESIZE_TIMEOUT_SECONDS: Final = 25
# API: decodes no pixels (uploads go straight to S3 by presigned POST); 1 GB for a quick cold start.
API_MEMORY_MB: Final = 1024
# API Gateway's integration timeout.
API_TIMEOUT_SECONDS: Final = 29
# CloudFront waits this long for the resize function's first byte (its default; up to 60 s is allowed).
ORIGIN_READ_TIMEOUT_SECONDS: Final = 30
