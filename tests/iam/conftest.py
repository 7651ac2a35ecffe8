"""The IAM-enforced tier: each function's real boto3 calls, as a role holding exactly its synthesised policy.

Two checks on every call, because moto's enforcement is basic (moto/iam/access_control.py says so):

1. moto, with IAM enforcement on (`INITIAL_NO_AUTH_ACTION_COUNT` = 0, by
   `moto.core.authorization.enable_iam_authentication`): every request must be signed by credentials moto
   knows (mock_aws's fake key, which the stacks' own clients use, becomes an administrator user; the
   function runs with the credentials of `sts.AssumeRole` on its role), and moto's policy check must allow
   `service:Operation` on the resource it determines.
   What moto does NOT check, and what covers it:
   - IAM's action names: moto checks the API operation's name (s3:HeadObject, sqs:SendMessageBatch,
     dynamodb:TransactWriteItems), so the operation names are added for moto to the statements granting
     the IAM action that authorises them (`MOTO_OPERATION_NAMES`) → the evaluator checks IAM's action.
   - Resources, outside S3 and SQS: moto asks about `*` for DynamoDB, EventBridge and Secrets Manager (so
     those statements reach moto with `Resource: "*"`, tests/iam/policy.py `for_moto`) → the recorder's
     evaluator matches every call's ARN (table, `table/index/…`, bus, secret).
   - Conditions: moto evaluates none on identity policies (a conditioned Allow acts unconditional) →
     the evaluator checks `s3:prefix`, `s3:authType` and `dynamodb:LeadingKeys` with IAM's operator rules.
   - What one call needs beyond its own action: CopyObject's read of the source (moto checks only
     PutObject on the target), DeleteObjects per key (moto: the bucket ARN), a read of a
     missing key answering 404 only with s3:ListBucket (moto always answers 404), each item of a
     TransactWriteItems, GetObjectVersion for a HEAD of a version → the evaluator's `requests_for`.
   - Presigned URLs and POST policies are signed locally and used later by someone else (moto cannot
     authorise a query-string or form signature) → the evaluator checks them as the role's own call.
   - Services moto lacks (the KeyValueStore's data plane, answered on the wire by tests/fakes) →
     the evaluator alone.
   - Role trust, permission boundaries, SCPs, resource policies (bucket and queue policies, KMS): not in
     this tier; the bucket and queue policies are asserted in tests/infra.
2. The recorder: botocore event hooks on the function's session record every call with its parameters and
   outcome; `Policy.evaluate` must allow each one, and every (action, resource) pair of every statement
   must be used by some scenario or be in the test's allow-list with its reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.core.authorization import enable_iam_authentication
from moto.iam.models import iam_backends

from tests.iam.policy import (
    ACCOUNT,
    REGION,
    Grant,
    Policy,
    Request,
    Resolver,
    Statement,
    for_moto,
    function_policy,
    requests_for,
)
from tests.infra.cfn import Template
from tests.infra.conftest import assembly, dev

__all__ = ["assembly", "dev"]  # the shared synth's fixtures, for this tier too

LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@dataclass
class Call:
    function: str
    service: str
    operation: str
    params: dict[str, Any]
    presigned: bool
    status: int | None = None
    error: str | None = None

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.error in ("NoSuchKey", "NotFound", "404")


@dataclass
class Recorder:
    """Every boto3 call of the functions' sessions, and its verdict under each function's policy."""

    policies: dict[str, Policy] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    extra: list[tuple[str, Request]] = field(default_factory=list)  # presigned POSTs, resolved by the test

    def attach(self, session: Any, function: str) -> None:
        def before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            service = model.service_model.service_id.hyphenize()
            presigned = bool(context.get("is_presign_request"))
            if presigned and model.name == "CreateBucket":
                return  # a presigned POST: its key is in the form; the test adds it with `posted`
            call = Call(function, service, model.name, json.loads(json.dumps(params, default=str)), presigned)
            self.calls.append(call)
            context["imgpipe_iam_call"] = call

        def after(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            call = context.get("imgpipe_iam_call")
            if call is not None:
                call.status = http_response.status_code
                call.error = parsed.get("Error", {}).get("Code")

        session.events.register("before-parameter-build", before)
        session.events.register("after-call", after)

    def refused(self) -> list[str]:
        """Calls moto's enforcement refused (403), as `function: service.Operation params`."""
        return [
            f"{c.function}: {c.service}.{c.operation} {c.params}"
            for c in self.calls
            if c.status == 403 or c.error in ("AccessDenied", "AccessDeniedException")
        ]

    def posted(self, function: str, bucket: str, key: str) -> None:
        """A presigned POST the function handed out: the uploader's PutObject runs on the role's signature."""
        self.extra.append(
            (
                function,
                Request(
                    "s3:PutObject",
                    f"arn:aws:s3:::{bucket}/{key}",
                    {"s3:authType": ("POST",)},
                    why="presigned POST",
                ),
            )
        )

    def requests(self) -> Iterator[tuple[str, Request]]:
        for call in self.calls:
            for request in requests_for(
                call.service, call.operation, call.params, not_found=call.not_found, presigned=call.presigned
            ):
                why = f"{request.why}{' (presigned)' if call.presigned else ''}"
                yield call.function, Request(request.action, request.resource, request.context, why)
        yield from self.extra

    def verdicts(self) -> tuple[list[str], dict[str, set[Grant]]]:
        """(every request no policy allows, the grants each function's requests used)."""
        denied: list[str] = []
        used: dict[str, set[Grant]] = {name: set() for name in self.policies}
        for function, request in self.requests():
            grants = self.policies[function].evaluate(request)
            if grants is None:
                denied.append(f"{function}: {request}")
            else:
                used[function] |= grants
        return denied, used


@dataclass
class Enforced:
    """One moto account with IAM enforcement on, a role per function, and the recorder."""

    template: Template
    recorder: Recorder = field(default_factory=Recorder)

    def role_session(self, function: str, fragment: str, resolver: Resolver) -> Any:
        """A session with the credentials of the function's role, whose policy is the synthesised one."""
        statements: list[Statement] = function_policy(self.template, fragment, resolver)
        self.recorder.policies[function] = Policy(function, statements)
        admin = boto3.session.Session(region_name=REGION)
        iam, sts = admin.client("iam"), admin.client("sts")
        role = iam.create_role(RoleName=function, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]
        iam.put_role_policy(
            RoleName=function,
            PolicyName="synthesised",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": for_moto(statements)}),
        )
        credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=function)["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )
        self.recorder.attach(session, function)
        return session

    def on(self) -> Any:
        """moto's IAM enforcement, from here on (the roles and the administrator exist by then)."""
        _make_admin()
        return enable_iam_authentication()


def _make_admin() -> None:
    """The key the stacks' own clients sign with (mock_aws's fake one), as an IAM user allowed everything."""
    admin = boto3.session.Session(region_name=REGION).client("iam")
    admin.create_user(UserName="administrator")
    admin.put_user_policy(
        UserName="administrator",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    # moto generates key ids; this one must be the fixed key the stacks' clients already sign with.
    key = iam_backends[ACCOUNT]["aws"].create_access_key("administrator")
    key.access_key_id = os.environ["AWS_ACCESS_KEY_ID"]
    key.secret_access_key = os.environ["AWS_SECRET_ACCESS_KEY"]


@pytest.fixture
def enforced(dev: Template) -> Enforced:
    """For a test inside an integration stack's `mock_aws`: roles first, then `with enforced.on(): ...`."""
    return Enforced(dev)
