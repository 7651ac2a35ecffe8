"""cdk-nag acknowledgements: one call per finding, each with the reason it is accepted.

cdk-nag 3 matches acknowledgements by exact finding id (`AwsSolutions-IAM5[Resource::<Bucket.Arn>/x/*]`),
looked up on the flagged resource and its ancestors, so each one is placed on the narrowest construct
that needs it. A finding nobody acknowledged fails synthesis.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, CfnResource, Stack, Validations
from constructs import IConstruct

PACK = "AwsSolutions"
SERVERLESS_PACK = "Serverless"  # cdk-nag's ServerlessChecks


def acknowledge(scope: IConstruct, rule: str, reason: str, *, pack: str = PACK) -> None:
    """Accept `rule` (such as `L1` or `IAM5[Resource::*]`) for `scope` and everything below it."""
    if not reason.strip():
        raise ValueError(f"the acknowledgement of {rule} needs a reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{pack}-{rule}", reason=reason))


def attribute_ref(resource: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag prints `Fn::GetAtt` of `resource`'s CloudFormation resource in a finding id."""
    element = resource if isinstance(resource, CfnElement) else resource.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{resource.node.path} has no CloudFormation resource")
    return f"<{Stack.of(element).get_logical_id(element)}.{attribute}>"


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Accept one wildcard resource (an object prefix, an index) granted by policies under `scope`."""
    acknowledge(scope, f"IAM5[Resource::{resource}]", reason)


# checkov (tests/infra/test_checkov.py) reads acknowledgements from each resource's template metadata:
# `Metadata: checkov: skip: [{id, comment}]`.
CHECKOV_METADATA = "checkov"


def acknowledge_checkov(resource: CfnResource, check: str, reason: str) -> None:
    """Accept checkov's `check` (such as `CKV_AWS_117`) on `resource`, with the reason it is accepted."""
    if not reason.strip():
        raise ValueError(f"the acknowledgement of {check} needs a reason")
    metadata = resource.get_metadata(CHECKOV_METADATA) or {}
    acknowledgement = {"id": check, "comment": reason}
    skips = [acknowledgement if skip["id"] == check else skip for skip in metadata.get("skip", [])]
    if acknowledgement not in skips:
        skips.append(acknowledgement)  # a new one; one given before keeps its place
    resource.add_metadata(CHECKOV_METADATA, {"skip": skips})


# What checkov reports on every resource of a type in this stack, and why each is accepted.
CHECKOV_BY_TYPE: dict[str, tuple[tuple[str, str], ...]] = {
    "AWS::Lambda::Function": (
        (
            "CKV_AWS_115",
            "Concurrency is bounded where it matters: ingest by each lane's event-source maximum "
            "concurrency, resize by its reserved concurrency (resizeReservedConcurrency), the API by its "
            "usage plans; CDK's deploy-time helpers run once per deployment.",
        ),
        (
            "CKV_AWS_116",
            "No asynchronous invocation: ingest is fed by SQS event-source mappings whose queues have "
            "dead-letter queues (alarmed); resize, the API and CDK's helpers are called synchronously.",
        ),
        (
            "CKV_AWS_117",
            "The functions reach only AWS service endpoints (S3, DynamoDB, SQS, EventBridge, Secrets "
            "Manager) over TLS with IAM; a VPC would add NAT or endpoint costs and nothing private to reach.",
        ),
        (
            "CKV_AWS_173",
            "Environment variables hold resource names and settings, never a secret (signing keys come "
            "from Secrets Manager); Lambda encrypts them at rest with its service key.",
        ),
    ),
    "AWS::Logs::LogGroup": (
        (
            "CKV_AWS_158",
            "Logs hold structured events with keys and ids, no secrets or image data; CloudWatch Logs "
            "encrypts them at rest with its service key, and they expire with the stage's retention.",
        ),
    ),
    "AWS::DynamoDB::Table": (
        (
            "CKV_AWS_119",
            "Encrypted at rest with the AWS-managed DynamoDB key; the records need no separate key "
            "control, and a customer-managed key would be one more thing that can lock the table.",
        ),
    ),
    "AWS::SecretsManager::Secret": (
        (
            "CKV_AWS_149",
            "Encrypted with Secrets Manager's AWS-managed key; only roles granted read by the stack can "
            "decrypt it, which is the control a customer-managed key would add here.",
        ),
    ),
    "AWS::SQS::Queue": (
        (
            "CKV_AWS_27",
            "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); S3 event notifications cannot publish "
            "to a queue under the AWS-managed KMS key.",
        ),
    ),
    "AWS::ApiGateway::Stage": (
        (
            "CKV_AWS_120",
            "Answers are per tenant and per key (records, presigned POSTs, exports); a stage cache would "
            "cost per hour and could answer one caller with another's response.",
        ),
    ),
    "AWS::WAFv2::WebACL": (
        (
            "CKV_AWS_192",
            "No Java runs behind the distribution (S3 and Python Lambdas), so Log4j lookups reach no "
            "vulnerable parser; the per-IP rate rule and the IP reputation list apply.",
        ),
    ),
}


def acknowledge_checkov_by_type(scope: IConstruct) -> None:
    """Apply `CHECKOV_BY_TYPE` to every CloudFormation resource under `scope`."""
    for construct in scope.node.find_all():
        if isinstance(construct, CfnResource):
            for check, reason in CHECKOV_BY_TYPE.get(construct.cfn_resource_type, ()):
                acknowledge_checkov(construct, check, reason)
