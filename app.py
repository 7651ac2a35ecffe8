#!/usr/bin/env python3
"""CDK entry point: `make synth` (or `cdk synth`/`cdk deploy -c stage=prod`) runs this."""

from __future__ import annotations

import os

from infra.node_runtime import use_bundled_node

use_bundled_node()  # before the first aws_cdk import, which starts jsii's Node

from infra.application import build_app, cdk_json_context  # noqa: E402


def main() -> None:
    if "CDK_CONTEXT_JSON" in os.environ or "CDK_OUTDIR" in os.environ:
        build_app().synth()  # run by the CDK CLI, which passes cdk.json's context and the outdir
    else:
        context = cdk_json_context()
        context["stage"] = os.environ.get("STAGE", context.get("stage"))
        build_app(context, outdir="cdk.out").synth()


if __name__ == "__main__":
    main()
