"""The CloudFront Functions and their KeyValueStore's initial items (CDK-free).

The viewer-request function (`functions/edge/viewer_request.js`, owned by delivery) reads three keys of
its KeyValueStore: the signing policy, the presets and the signing keys (`EDGE_KVS_*` in
`infra.constants`). The viewer-response function (`functions/edge/viewer_response.js`, which adds
`Vary: Accept` to negotiated renditions) shares the store and reads only the presets. The stack seeds
the first two from the stage; the signing keys are copied in from the Secrets Manager secret after
deployment, so no secret is ever in a template or an asset.
"""

from __future__ import annotations

import json
from typing import Final

from infra.bundle import FUNCTIONS_DIR
from infra.config import StageConfig
from infra.constants import EDGE_KVS_PRESETS, EDGE_KVS_SIGNING_POLICY

EDGE_FUNCTION_SOURCE: Final = FUNCTIONS_DIR / "edge" / "viewer_request.js"
EDGE_RESPONSE_FUNCTION_SOURCE: Final = FUNCTIONS_DIR / "edge" / "viewer_response.js"
EDGE_FUNCTION_MAX_BYTES: Final = 10 * 1024  # CloudFront Functions' code size limit


def edge_settings(config: StageConfig) -> str:
    """The KeyValueStore's initial items, in CloudFront's import format."""
    items = [
        {"key": EDGE_KVS_PRESETS, "value": config.presets_json},
        {"key": EDGE_KVS_SIGNING_POLICY, "value": config.signing_policy},
    ]
    return json.dumps({"data": items}, separators=(",", ":"))
