"""The resize function as its synthesised role: misses from the original and the mezzanine, a signed request,
a missing original and a missing mezzanine, a recorded focal point."""

from __future__ import annotations

import functools

import boto3  # type: ignore[import-untyped]

from imgpipe.dev.aws import create_images_table
from infra.constants import ENV_IMAGES_TABLE
from tests.builders import encode, photo_like
from tests.fakes.delivery import signed
from tests.iam.conftest import Enforced
from tests.iam.policy import (
    REGION,
    Policy,
    Request,
    Resolver,
    Unused,
    bucket,
    function_policy,
    requests_for,
    secret,
    table,
    unexplained,
)
from tests.integration.delivery_stack import ORIGINALS, TRANSFORMED, DeliveryStack, delivery_stack
from tests.integration.test_delivery_resize import write_mezzanine_as_ingest_does

__all__ = ["delivery_stack"]  # the fixture, imported so pytest finds it

FUNCTION = "resize"
TABLE = "delivery-images"
NOT_EXERCISED = (
    Unused("logs:*", "*Logs.Arn", "The Lambda service writes the function's log stream, not its code."),
    Unused("xray:*", "*", "The runtime's X-Ray daemon sends trace segments (tracing is on), not boto3."),
)


@functools.cache
def big_jpeg() -> bytes:
    """Over 2560 px on its longer side: ingest keeps a mezzanine of it."""
    return encode(photo_like(2800, 1800, seed=5), "JPEG", quality=85)


def test_resize_makes_only_calls_its_role_allows_and_uses_every_grant(
    delivery_stack: DeliveryStack, enforced: Enforced
) -> None:
    stack = delivery_stack
    create_images_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    stack.environment[ENV_IMAGES_TABLE] = TABLE
    names = Resolver(
        enforced.template,
        {
            ("AWS::S3::Bucket", "/Storage/Originals/"): bucket(ORIGINALS),
            ("AWS::S3::Bucket", "/Storage/Transformed/"): bucket(TRANSFORMED),
            ("AWS::DynamoDB::Table", "/Metadata/Images/"): table(TABLE),
            ("AWS::SecretsManager::Secret", "/Delivery/SigningKeys/"): secret(stack.secret_arn),
        },
    )
    # Given the resize function on its role's credentials (built per invocation from the stack's session)
    stack.session = enforced.role_session(FUNCTION, "/Delivery/Resize/", names)
    small, big = "uploads/acme/small.jpg", "uploads/acme/big.jpg"
    member = "batches/acme/b1/member.jpg"  # a batch member: its own top-level prefix
    stack.put_original(small, encode(photo_like(640, 480, 1), "JPEG"))
    stack.put_original(member, encode(photo_like(320, 240, 2), "JPEG"))
    stack.put_original(big, big_jpeg())
    write_mezzanine_as_ingest_does(stack, big, big_jpeg())
    with enforced.on():
        cloudfront = stack.cloudfront()
        # When a preset misses (no mezzanine for a small original), and one the mezzanine covers
        assert cloudfront.get(f"/{small}?preset=thumb&fm=jpeg").status == 200
        assert cloudfront.get(f"/{big}?preset=large&fm=jpeg").status == 200
        # And a signed request with a crop centred on the recorded focal point (g=auto)
        assert cloudfront.get(signed(f"/{small}", "w=200&h=200&fit=cover&g=auto&fm=webp")).status == 200
        # And a batch member's preset, rendered from its original under batches/
        assert cloudfront.get(f"/{member}?preset=thumb&fm=jpeg").status == 200
        # And a key with no original: 404 (S3 answers 404, not 403, only with ListBucket), in both prefixes
        assert cloudfront.get("/uploads/acme/none.jpg?preset=thumb").status == 404
        assert cloudfront.get("/batches/acme/b1/none.jpg?preset=thumb").status == 404
        # Then the variants were stored, and moto's enforcement refused no call
        assert stack.s3.list_objects_v2(Bucket=TRANSFORMED, Prefix=small).get("KeyCount", 0) == 2
        assert stack.s3.list_objects_v2(Bucket=TRANSFORMED, Prefix=member).get("KeyCount", 0) == 1
        assert not enforced.recorder.refused(), "\n".join(enforced.recorder.refused())

    # And our evaluator allows every call, and every grant was used or has its reason
    denied, used = enforced.recorder.verdicts()
    assert not denied, "\n".join(denied)
    missing = unexplained(enforced.recorder.policies[FUNCTION], used[FUNCTION], NOT_EXERCISED)
    assert not missing, "grants no scenario used:\n" + "\n".join(map(str, missing))


def test_resize_may_list_only_under_the_originals_prefixes(
    delivery_stack: DeliveryStack, enforced: Enforced
) -> None:
    # Given the resize function's synthesised policy
    names = Resolver(enforced.template, {("AWS::S3::Bucket", "/Storage/Originals/"): bucket(ORIGINALS)})
    policy = Policy(FUNCTION, function_policy(enforced.template, "/Delivery/Resize/", names))

    def listing(prefix: str | None) -> Request:
        params = {"Bucket": ORIGINALS} | ({"Prefix": prefix} if prefix is not None else {})
        (request,) = requests_for("s3", "ListObjectsV2", params)
        return request

    # Then it may learn whether a key exists under uploads/ or batches/ (a missing source's 404), and
    # nothing else
    assert policy.evaluate(listing("uploads/acme/none.jpg"))
    assert policy.evaluate(listing("batches/acme/b1/none.jpg"))
    for prefix in ("quarantine/", "", None):
        assert policy.evaluate(listing(prefix)) is None, prefix
