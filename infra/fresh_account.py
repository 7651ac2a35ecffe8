"""Fresh-account checks that stop `cdk synth` (tests/infra/test_fresh_account.py checks the templates too).

Two ways a first `cdk deploy` fails in a new account that no unit of the stack sees on its own:
- a resource kept on deletion (`Retain`) under a fixed name survives a failed first create, and the retry
  stops at "already exists": such resources must use `RetainExceptOnCreate` (`infra.removal`);
- an API Gateway stage that writes access logs in an account whose API Gateway settings name no
  CloudWatch Logs role fails to create: the stack must set one unless the stage says the account has it.
(Bucket-name lengths and partitions are checked earlier, by `StageConfig` and `check_target_partitions`.)
"""

from __future__ import annotations

import re
from typing import Any

import jsii
from aws_cdk import CfnDeletionPolicy, CfnResource, Stack
from aws_cdk import aws_apigateway as apigateway
from constructs import IValidation

from infra.config import StageConfig

# CloudFormation properties (as CDK's L1s name them) that give a resource a fixed physical name.
_NAME_PROPERTY = re.compile(r"^(?:\w+Name|name)$")


def fixed_name(resource: CfnResource) -> str | None:
    """The property that names `resource`, if it has a fixed name."""
    # CDK keeps an L1's properties on the resource until it renders the template; reading them is the only
    # way to see them before synthesis ends.
    properties: dict[str, Any] = dict(resource._cfn_properties or {})
    for key, value in properties.items():
        # A generated name is a token that resolves to nothing (CloudFormation names the resource).
        if _NAME_PROPERTY.match(key) and Stack.of(resource).resolve(value) is not None:
            return key
    return None


@jsii.implements(IValidation)
class FreshAccountChecks:
    def __init__(self, stack: Stack, config: StageConfig) -> None:
        self.stack = stack
        self.config = config

    def validate(self) -> list[str]:
        errors: list[str] = []
        resources = [c for c in self.stack.node.find_all() if isinstance(c, CfnResource)]
        for resource in resources:
            name = fixed_name(resource)
            if resource.cfn_options.deletion_policy == CfnDeletionPolicy.RETAIN and name is not None:
                errors.append(
                    f"{resource.node.path} ({resource.cfn_resource_type}) is retained under a fixed {name}: "
                    "a failed first create would leave it behind and the retry would stop at 'already "
                    "exists'; use infra.removal.stage_removal_policy (RetainExceptOnCreate)"
                )
        logged_stages = [
            r for r in resources if isinstance(r, apigateway.CfnStage) and r.access_log_setting is not None
        ]
        has_account_role = any(isinstance(r, apigateway.CfnAccount) for r in resources)
        if logged_stages and not has_account_role and not self.config.api.account_has_cloud_watch_role:
            errors.append(
                f"{logged_stages[0].node.path} writes access logs, which need the account's API Gateway "
                "CloudWatch Logs role, and the stack sets none: create it (cloud_watch_role) or set "
                "api.accountHasCloudWatchRole"
            )
        return errors
