"""What deleting (or replacing) a resource does to it, per stage: one rule for every resource that keeps data.

Production keeps its data and logs when the stack is deleted or a resource replaced, but not when the
first create fails: CloudFormation's `RetainExceptOnCreate` (CDK `RETAIN_ON_UPDATE_OR_DELETE`) deletes
what a failed create made, so a retry does not stop at "already exists" on a fixed name. Other stages
clean up after themselves.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy

from infra.config import StageConfig


def stage_removal_policy(config: StageConfig) -> RemovalPolicy:
    return RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE if config.production else RemovalPolicy.DESTROY
