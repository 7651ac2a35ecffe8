"""Synthesise the test app into OUTDIR: `python -m tests.infra.synth_app OUTDIR` (run once per test run).

The `dev` stack comes from the real `build_app` with cdk.json's context (cdk-nag attached); the `full`
and `euwest` stages (the latter with its us-east-1 edge-monitoring stack) are added to the same app, so one
synthesis validates them all.
"""

from __future__ import annotations

import sys

from infra.node_runtime import use_bundled_node

use_bundled_node()

from infra.application import build_app, cdk_json_context  # noqa: E402
from infra.config import StageConfig  # noqa: E402
from infra.stack import build_stage  # noqa: E402
from tests.infra.variants import EU, FULL  # noqa: E402


def main(outdir: str) -> None:
    context = cdk_json_context()
    context["aws:cdk:enable-path-metadata"] = True
    # Reference assets where they are instead of copying them (the layer is ~100 MiB) into every cache.
    context["aws:cdk:disable-asset-staging"] = True
    app = build_app(context, outdir=outdir)
    for stage, settings in (("full", FULL), ("euwest", EU)):
        build_stage(app, StageConfig.model_validate({"stage": stage, **settings}))
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1])
