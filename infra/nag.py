"""cdk-nag acknowledgements: one call per finding, each with the reason it is accepted.

cdk-nag 3 matches acknowledgements by exact finding id (`AwsSolutions-IAM5[Resource::<Bucket.Arn>/x/*]`),
looked up on the flagged resource and its ancestors, so each one is placed on the narrowest construct
that needs it. A finding nobody acknowledged fails synthesis.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept `rule` (such as `L1` or `IAM5[Resource::*]`) for `scope` and everything below it."""
    if not reason.strip():
        raise ValueError(f"the acknowledgement of {rule} needs a reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}-{rule}", reason=reason))


def attribute_ref(resource: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag prints `Fn::GetAtt` of `resource`'s CloudFormation resource in a finding id."""
    element = resource if isinstance(resource, CfnElement) else resource.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    return f"<{Stack.of(element).get_logical_id(element)}.{attribute}>"


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Accept one wildcard resource (an object prefix, an index) granted by policies under `scope`."""
    acknowledge(scope, f"IAM5[Resource::{resource}]", reason)
