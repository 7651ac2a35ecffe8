"""The CloudFront Functions and the non-secret items of their KeyValueStore (CDK-free).

The viewer-request function (`functions/edge/viewer_request.js`, owned by delivery) reads three keys of
its KeyValueStore: the signing policy, the presets and the signing keys (`EDGE_KVS_*` in
`infra.constants`, formats in `imgpipe.edge_store`). The viewer-response function
(`functions/edge/viewer_response.js`, which adds `Vary: Accept` to negotiated renditions) shares the
store and reads only the presets. On every deploy the edge-settings custom resource (infra/edge_settings.py)
writes the first two from the stage and the signing keys from the Secrets Manager secret, so no secret is
ever in a template or an asset.
"""

from __future__ import annotations

from typing import Final

from imgpipe.edge_store import EdgeLimitError, check_fits, settings_items
from infra.bundle import FUNCTIONS_DIR
from infra.config import StageConfig

EDGE_FUNCTION_SOURCE: Final = FUNCTIONS_DIR / "edge" / "viewer_request.js"
EDGE_RESPONSE_FUNCTION_SOURCE: Final = FUNCTIONS_DIR / "edge" / "viewer_response.js"
EDGE_FUNCTION_MAX_BYTES: Final = 10 * 1024  # CloudFront Functions' code size limit


def edge_settings_items(config: StageConfig) -> dict[str, str]:
    """The stage's presets and signing policy as the edge reads them, refused here if they cannot fit
    CloudFront's KeyValueStore (a value holds at most 1 KB), so synthesis stops instead of the deploy."""
    items = settings_items(config.presets_json, config.signing_policy)
    try:
        check_fits(items)
    except EdgeLimitError as error:
        raise EdgeLimitError(f"cdk.json context.stages.{config.stage}: {error}") from None
    return items
