"""The tier's own evaluator: IAM's matching and condition rules it relies on, one case each."""

from __future__ import annotations

from typing import Any

from tests.iam.policy import Policy, Request, Statement, condition_holds, requests_for


def _policy(*statements: Statement) -> Policy:
    return Policy("f", list(statements))


def _allow(
    actions: tuple[str, ...], resources: tuple[str, ...], condition: dict[str, dict[str, Any]] | None = None
) -> Statement:
    return Statement("Allow", actions, resources, resources, condition or {})


def test_actions_match_without_case_and_resources_with_it_and_wildcards_span_slashes() -> None:
    policy = _policy(_allow(("s3:getobject",), ("arn:aws:s3:::b/uploads/*",)))
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/uploads/a/b c.jpg"))
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/Uploads/a.jpg")) is None
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/uploadsX")) is None
    assert policy.evaluate(Request("s3:PutObject", "arn:aws:s3:::b/uploads/a.jpg")) is None


def test_a_question_mark_is_one_character_and_dots_are_literal() -> None:
    policy = _policy(_allow(("s3:GetObject",), ("arn:aws:s3:::b/v?.jpg",)))
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/v1.jpg"))
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/v12.jpg")) is None
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/v1xjpg")) is None


def test_a_deny_wins_over_any_allow() -> None:
    deny = Statement("Deny", ("s3:*",), ("*",), ("*",), {})
    policy = _policy(_allow(("s3:GetObject",), ("*",)), deny)
    assert policy.evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k")) is None


def test_string_like_needs_the_key_and_for_all_values_passes_without_it() -> None:
    prefix = {"StringLike": {"s3:prefix": ["uploads/*"]}}
    assert condition_holds(prefix, {"s3:prefix": ("uploads/a.jpg",)})
    assert not condition_holds(prefix, {"s3:prefix": ("quarantine/a.jpg",)})
    assert not condition_holds(prefix, {})  # a listing without a prefix is the whole bucket
    leading = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["IMG#*", "BATCH#*"]}}
    assert condition_holds(leading, {"dynamodb:LeadingKeys": ("IMG#1", "BATCH#a#b")})
    assert not condition_holds(leading, {"dynamodb:LeadingKeys": ("IMG#1", "APIKEY#k")})
    assert condition_holds(leading, {})  # IAM's rule (and pitfall): no value at all passes ForAllValues


def test_a_missing_key_answers_404_only_with_list_bucket_on_its_key_as_prefix() -> None:
    params = {"Bucket": "b", "Key": "uploads/gone.jpg"}
    assert [r.action for r in requests_for("s3", "GetObject", params)] == ["s3:GetObject"]
    read, listing = requests_for("s3", "GetObject", params, not_found=True)
    assert read.action == "s3:GetObject"
    assert (listing.action, listing.resource) == ("s3:ListBucket", "arn:aws:s3:::b")
    assert listing.context["s3:prefix"] == ("uploads/gone.jpg",)


def test_a_transaction_is_authorised_item_by_item_with_its_leading_key() -> None:
    items = [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "IMG#1"}}}},
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "TENANT#a"}}}},
    ]
    requests = requests_for("dynamodb", "TransactWriteItems", {"TransactItems": items})
    assert [(r.action, r.context["dynamodb:LeadingKeys"]) for r in requests] == [
        ("dynamodb:PutItem", ("IMG#1",)),
        ("dynamodb:UpdateItem", ("TENANT#a",)),
    ]


def test_a_copy_reads_its_source_and_writes_its_target() -> None:
    params = {"Bucket": "b", "Key": "quarantine/x", "CopySource": {"Bucket": "b", "Key": "uploads/x"}}
    assert [(r.action, r.resource) for r in requests_for("s3", "CopyObject", params)] == [
        ("s3:GetObject", "arn:aws:s3:::b/uploads/x"),
        ("s3:PutObject", "arn:aws:s3:::b/quarantine/x"),
    ]
