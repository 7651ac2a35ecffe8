"""Synthesise the test app into OUTDIR: `python -m tests.infra.synth_app OUTDIR` (run once per test run).

The `dev` stack comes from the real `build_app` with cdk.json's context (cdk-nag attached); the `full`
stack is added to the same app, so one synthesis validates both.
"""

from __future__ import annotations

import sys

from infra.node_runtime import use_bundled_node

use_bundled_node()

from infra.application import build_app, cdk_json_context  # noqa: E402
from infra.config import StageConfig  # noqa: E402
from infra.stack import ImgpipeStack, stack_name  # noqa: E402
from tests.infra.variants import FULL  # noqa: E402


def main(outdir: str) -> None:
    context = cdk_json_context()
    context["aws:cdk:enable-path-metadata"] = True
    # Reference assets where they are instead of copying them (the layer is ~100 MiB) into every cache.
    context["aws:cdk:disable-asset-staging"] = True
    app = build_app(context, outdir=outdir)
    full = StageConfig.model_validate({"stage": "full", **FULL})
    ImgpipeStack(app, stack_name(full), config=full)
    app.synth()


if __name__ == "__main__":
    main(sys.argv[1])
