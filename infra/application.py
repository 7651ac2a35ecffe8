"""Build the CDK app: stage config from context, the stack, and cdk-nag as a policy-validation plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.config import (
    TARGET_PARTITIONS_CONTEXT_KEY,
    cdk_json_context,
    check_target_partitions,
    load_stage_config,
)
from infra.stack import build_stage

LAYER_BUILDER_CONTEXT_KEY = "layerBuilder"  # "pip" (default) or "docker"


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    raw: dict[str, Any] = {
        key: app.node.try_get_context(key) for key in ("stage", "stages", LAYER_BUILDER_CONTEXT_KEY)
    }
    config = load_stage_config(raw)
    check_target_partitions(app.node.try_get_context(TARGET_PARTITIONS_CONTEXT_KEY))
    build_stage(app, config, docker_layer=raw.get(LAYER_BUILDER_CONTEXT_KEY) == "docker")
    # cdk-nag 3 is a policy-validation plugin: any unacknowledged AwsSolutions finding fails the synth.
    # Acknowledgements are also written into each resource's template metadata, as an audit trail.
    # ServerlessChecks adds the serverless pack's rules (DLQs, throttling, runtimes) on the same terms.
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app, write_suppressions_to_cloud_formation=True),
    )
    return app


__all__ = ["build_app", "cdk_json_context"]
