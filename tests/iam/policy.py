"""The synthesised identity policies, resolved against moto's resources, and a strict evaluator of our own.

Three parts:

- `function_policy(template, fragment, names)`: the statements the template attaches to one function's
  role, with `Ref` / `Fn::GetAtt` / `Fn::Join` / `Fn::Sub` replaced by the names and ARNs of the moto
  resources the integration stack made (`names`: construct path of a template resource → its values).
- `requests_for(...)`: what IAM authorises for one boto3 call: the action(s), the resource ARN(s) and the
  condition keys AWS puts in the request context (S3's implicit `s3:ListBucket` check when a read finds no
  key, `s3:prefix`, `dynamodb:LeadingKeys`, the source object of a copy, each key of a DeleteObjects,
  each item of a transaction).
- `Policy.evaluate(request)`: allowed or not, and which (action, resource) pair of which statement said
  so, to find the pairs no scenario uses.

`for_moto(statements)` adapts a copy for moto's own enforcement, which is basic (see tests/iam/conftest.py).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from infra.constants import TABLE_PARTITION_KEY
from tests.infra.cfn import Template, as_list, by_path, path_of, props, ref_id

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}


# Template → statements


@dataclass(frozen=True)
class Named:
    """What a template resource is in moto: `Ref` and its attributes (`Arn`, ...)."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


def bucket(name: str) -> Named:
    return Named(name, {"Arn": f"arn:aws:s3:::{name}"})


def table(name: str) -> Named:
    return Named(name, {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"})


def event_bus(name: str) -> Named:
    return Named(name, {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"})


def queue(url: str, arn: str) -> Named:
    return Named(url, {"Arn": arn, "QueueUrl": url, "QueueName": arn.rsplit(":", 1)[-1]})


def secret(arn: str) -> Named:
    return Named(arn, {"Id": arn})


class Resolver:
    """Template values → strings, with the resources named by (type, construct path fragment)."""

    def __init__(self, template: Template, names: Mapping[tuple[str, str], Named]) -> None:
        self._template = template
        self._by_id: dict[str, Named] = {}
        for (kind, fragment), named in names.items():
            logical_id, _ = by_path(template, kind, fragment)
            self._by_id[logical_id] = named

    def readable(self, logical_id: str) -> str:
        """A logical id as its construct path without the stack name (`Storage/Originals`)."""
        path = path_of(self._template["Resources"].get(logical_id, {}))
        return path.split("/", 1)[-1].removesuffix("/Resource") if path else logical_id

    def _value(self, logical_id: str, attribute: str | None) -> str:
        if logical_id in PSEUDO:
            return PSEUDO[logical_id]
        named = self._by_id.get(logical_id)
        if named is None:
            # Not made in moto (log groups, ...): a marker no request's ARN can equal.
            return f"<unresolved {self.readable(logical_id)}{'.' + attribute if attribute else ''}>"
        if attribute is None:
            return named.ref
        return named.attributes[attribute]

    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            if "Ref" in value:
                return self._value(str(value["Ref"]), None)
            if "Fn::GetAtt" in value:
                logical_id, attribute = value["Fn::GetAtt"]
                return self._value(str(logical_id), str(attribute))
            if "Fn::Join" in value:
                delimiter, parts = value["Fn::Join"]
                return str(delimiter).join(self.resolve(part) for part in parts)
            if "Fn::Sub" in value:
                text, variables = (
                    (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
                )

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return self.resolve(variables[name])
                    logical_id, _, attribute = name.partition(".")
                    return self._value(logical_id, attribute or None)

                return re.sub(r"\$\{([^}!]+)\}", substitute, str(text))
        raise ValueError(f"cannot resolve {value!r}")

    def describe(self, value: Any) -> str:
        """A template value for people: references as construct paths (`Storage/Originals.Arn/uploads/*`)."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            if "Fn::Join" in value:
                delimiter, parts = value["Fn::Join"]
                return str(delimiter).join(self.describe(part) for part in parts)
            if "Fn::GetAtt" in value:
                return f"{self.readable(value['Fn::GetAtt'][0])}.{value['Fn::GetAtt'][1]}"
            if "Ref" in value:
                name = str(value["Ref"])
                return PSEUDO.get(name, self.readable(name))
            if "Fn::Sub" in value:
                return str(value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0])
        return json.dumps(value)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # resolved ARN patterns
    described: tuple[str, ...]  # the same, as construct paths (for messages and the allow-list)
    condition: Mapping[str, Mapping[str, Any]]

    def document(self) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Effect": self.effect,
            "Action": list(self.actions),
            "Resource": list(self.resources),
        }
        if self.condition:
            statement["Condition"] = {k: dict(v) for k, v in self.condition.items()}
        return statement


def role_of(template: Template, function_fragment: str) -> str:
    _, function = by_path(template, "AWS::Lambda::Function", function_fragment)
    role = ref_id(props(function)["Role"])
    assert role is not None
    return role


def function_policy(template: Template, function_fragment: str, resolver: Resolver) -> list[Statement]:
    """Every identity statement on the role of the function whose construct path has `function_fragment`."""
    role_id = role_of(template, function_fragment)
    role = template["Resources"][role_id]
    assert not props(role).get("ManagedPolicyArns"), f"{role_id} has managed policies: read them too"
    documents = [p["PolicyDocument"] for p in props(role).get("Policies", [])]
    for resource in template["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = {ref_id(r) for r in props(resource).get("Roles", [])}
            if role_id in roles:
                documents.append(props(resource)["PolicyDocument"])
    statements = []
    for document in documents:
        for raw in document["Statement"]:
            assert "NotAction" not in raw and "NotResource" not in raw, raw
            resources = as_list(raw["Resource"])
            statements.append(
                Statement(
                    effect=raw["Effect"],
                    actions=tuple(as_list(raw["Action"])),
                    resources=tuple(resolver.resolve(r) for r in resources),
                    described=tuple(resolver.describe(r) for r in resources),
                    condition=raw.get("Condition", {}),
                )
            )
    return statements


# What moto's own enforcement is given

# moto passes a resource to its policy check for these services only (S3: the bucket or object ARN; SQS: the
# queue ARN); for every other service it asks about "*", which no ARN pattern matches.
MOTO_RESOURCE_SERVICES = frozenset({"s3", "sqs"})


# moto's enforcement checks `service:OperationName` (the API operation its router matched), which is IAM's
# action only where the two names agree. Where they differ, the operation names are added for moto to the
# statements granting the IAM action that authorises them in AWS (`requests_for` checks the IAM action).
MOTO_OPERATION_NAMES: Mapping[str, tuple[str, ...]] = {
    "s3:GetObject": ("s3:HeadObject",),
    "s3:ListBucket": ("s3:ListObjectsV2", "s3:ListObjects", "s3:HeadBucket"),
    "s3:PutObject": (
        "s3:CopyObject",
        "s3:CreateMultipartUpload",
        "s3:UploadPart",
        "s3:CompleteMultipartUpload",
    ),
    "s3:DeleteObject": ("s3:DeleteObjects",),
    "s3:ListMultipartUploadParts": ("s3:ListParts",),
    "sqs:SendMessage": ("sqs:SendMessageBatch",),
    "sqs:DeleteMessage": ("sqs:DeleteMessageBatch",),
    "sqs:ChangeMessageVisibility": ("sqs:ChangeMessageVisibilityBatch",),
    # AWS has no TransactWriteItems / TransactGetItems action: each item is authorised as its own action.
    "dynamodb:PutItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:UpdateItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:DeleteItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:ConditionCheckItem": ("dynamodb:TransactWriteItems",),
    "dynamodb:GetItem": ("dynamodb:TransactGetItems",),
}


def for_moto(statements: Sequence[Statement]) -> list[dict[str, Any]]:
    """The statements as moto can enforce them: IAM's actions with moto's names for them; resources where
    moto checks them.

    - Operation names: `MOTO_OPERATION_NAMES`.
    - Services whose resource moto does not determine get `Resource: "*"` (their ARNs are checked by
      `Policy.evaluate` on every recorded call instead).
    - moto authorises DeleteObjects against the bucket's ARN, AWS against each key: a statement granting
      s3:DeleteObject on a bucket's objects also lists that bucket for moto (the recorder checks each key).
    - Conditions are passed as they are: moto evaluates none for identity policies (it treats a
      conditioned Allow as unconditional), `Policy.evaluate` does.
    """
    adapted = []
    for statement in statements:
        document = statement.document()
        aliases = [name for action in statement.actions for name in MOTO_OPERATION_NAMES.get(action, ())]
        document["Action"] = sorted(set(statement.actions) | set(aliases))
        services = {action.split(":", 1)[0] for action in statement.actions}
        if not services <= MOTO_RESOURCE_SERVICES:
            document["Resource"] = "*"
        elif "s3:DeleteObject" in statement.actions:
            buckets = {r.split("/", 1)[0] for r in statement.resources if "/" in r}
            document["Resource"] = sorted(set(statement.resources) | buckets)
        adapted.append(document)
    return adapted


# One boto3 call → what IAM authorises


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    why: str = ""  # the call (and the part of it) this request comes from

    def __str__(self) -> str:
        context = f" {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{context} ({self.why})"


def _s3_object(bucket_name: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket_name}/{key}"


def _s3_bucket(bucket_name: str) -> str:
    return f"arn:aws:s3:::{bucket_name}"


def _table_arn(name: str, index: str | None = None) -> str:
    arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def _leading_key(item: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    value = (item or {}).get(TABLE_PARTITION_KEY, {})
    found = next(iter(value.values()), None) if isinstance(value, Mapping) else None
    return {"dynamodb:LeadingKeys": (str(found),)} if found is not None else {}


def _queried_leading_key(params: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The partition key value a table Query names in its key condition (`#pk = :pk`)."""
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, right in re.findall(r"([#\w]+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", "")):
        if names.get(left, left) == TABLE_PARTITION_KEY and right in values:
            return _leading_key({TABLE_PARTITION_KEY: values[right]})
    return {}


_DYNAMODB_ITEM_ACTIONS = {
    "GetItem": "Key",
    "PutItem": "Item",
    "UpdateItem": "Key",
    "DeleteItem": "Key",
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _queue_arn(url: str) -> str:
    # http(s)://host/{account}/{name}
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{REGION}:{account}:{name}"


def _s3_requests(operation: str, params: Mapping[str, Any], not_found: bool, why: str) -> list[Request]:
    name = params.get("Bucket", "")
    key = params.get("Key")
    versioned = bool(params.get("VersionId"))
    if operation in ("GetObject", "HeadObject"):
        assert key is not None
        requests = [
            Request("s3:GetObjectVersion" if versioned else "s3:GetObject", _s3_object(name, key), why=why)
        ]
        if not_found:
            # S3 answers a missing key with 404 only to a caller allowed to list the bucket, else 403. The
            # implicit check has the requested key as `s3:prefix` (as Ceph's RGW reproduces AWS:
            # https://github.com/ceph/ceph/pull/68577).
            requests.append(
                Request("s3:ListBucket", _s3_bucket(name), {"s3:prefix": (key,)}, why=f"{why}: 404 not 403")
            )
        return requests
    if operation in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        assert key is not None
        requests = [Request("s3:PutObject", _s3_object(name, key), why=why)]
        if params.get("Tagging"):
            requests.append(Request("s3:PutObjectTagging", _s3_object(name, key), why=f"{why}: Tagging"))
        return requests
    if operation == "AbortMultipartUpload":
        return [Request("s3:AbortMultipartUpload", _s3_object(name, key or ""), why=why)]
    if operation == "ListParts":
        return [Request("s3:ListMultipartUploadParts", _s3_object(name, key or ""), why=why)]
    if operation == "CopyObject":
        assert key is not None
        source = params["CopySource"]
        if isinstance(source, str):
            source_path, _, query = unquote(source).lstrip("/").partition("?versionId=")
            source_bucket, _, source_key = source_path.partition("/")
            source_version = bool(query)
        else:
            source_bucket, source_key = source["Bucket"], source["Key"]
            source_version = bool(source.get("VersionId"))
        requests = [
            Request(
                "s3:GetObjectVersion" if source_version else "s3:GetObject",
                _s3_object(source_bucket, source_key),
                why=f"{why}: source",
            ),
            Request("s3:PutObject", _s3_object(name, key), why=f"{why}: target"),
        ]
        # A COPY tagging directive writes the source's tags, if it has any (needing s3:PutObjectTagging
        # then); this evaluator does not know the source's tags, so it asks for tagging only with REPLACE.
        if params.get("TaggingDirective") == "REPLACE" and params.get("Tagging"):
            requests.append(Request("s3:PutObjectTagging", _s3_object(name, key), why=f"{why}: Tagging"))
        if not_found:
            requests.append(
                Request(
                    "s3:ListBucket",
                    _s3_bucket(source_bucket),
                    {"s3:prefix": (source_key,)},
                    why=f"{why}: 404 not 403",
                )
            )
        return requests
    if operation == "DeleteObject":
        assert key is not None
        action = "s3:DeleteObjectVersion" if versioned else "s3:DeleteObject"
        return [Request(action, _s3_object(name, key), why=why)]
    if operation == "DeleteObjects":
        return [
            Request(
                "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
                _s3_object(name, item["Key"]),
                why=why,
            )
            for item in params["Delete"]["Objects"]
        ]
    if operation in ("ListObjectsV2", "ListObjects"):
        context = {"s3:prefix": (params["Prefix"],)} if "Prefix" in params else {}
        return [Request("s3:ListBucket", _s3_bucket(name), context, why=why)]
    if operation in ("ListObjectVersions",):
        context = {"s3:prefix": (params["Prefix"],)} if "Prefix" in params else {}
        return [Request("s3:ListBucketVersions", _s3_bucket(name), context, why=why)]
    if operation == "GetObjectTagging":
        assert key is not None
        action = "s3:GetObjectVersionTagging" if versioned else "s3:GetObjectTagging"
        return [Request(action, _s3_object(name, key), why=why)]
    if operation == "PutObjectTagging":
        assert key is not None
        action = "s3:PutObjectVersionTagging" if versioned else "s3:PutObjectTagging"
        return [Request(action, _s3_object(name, key), why=why)]
    if operation == "HeadBucket":
        return [Request("s3:ListBucket", _s3_bucket(name), why=why)]
    raise NotImplementedError(f"no IAM mapping for s3.{operation}: add it to tests/iam/policy.py")


def _dynamodb_requests(operation: str, params: Mapping[str, Any], why: str) -> list[Request]:
    if operation in _DYNAMODB_ITEM_ACTIONS:
        item = params.get(_DYNAMODB_ITEM_ACTIONS[operation])
        return [
            Request(f"dynamodb:{operation}", _table_arn(params["TableName"]), _leading_key(item), why=why)
        ]
    if operation == "Query":
        index = params.get("IndexName")
        # On an index, LeadingKeys would be the index's partition key; no statement conditions reads.
        context = {} if index else _queried_leading_key(params)
        return [Request("dynamodb:Query", _table_arn(params["TableName"], index), context, why=why)]
    if operation == "Scan":
        return [Request("dynamodb:Scan", _table_arn(params["TableName"], params.get("IndexName")), why=why)]
    if operation == "TransactWriteItems":
        requests = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            action = _TRANSACT_ACTIONS[kind]
            item = body.get("Item") if kind == "Put" else body.get("Key")
            requests.append(
                Request(
                    f"dynamodb:{action}",
                    _table_arn(body["TableName"]),
                    _leading_key(item),
                    why=f"{why}: {kind}",
                )
            )
        return requests
    if operation == "TransactGetItems":
        return [
            Request(
                "dynamodb:GetItem", _table_arn(e["Get"]["TableName"]), _leading_key(e["Get"]["Key"]), why=why
            )
            for e in params["TransactItems"]
        ]
    if operation == "BatchWriteItem":
        requests = []
        for name, writes in params["RequestItems"].items():
            keys = tuple(
                str(
                    next(
                        iter(
                            (w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"])[
                                TABLE_PARTITION_KEY
                            ].values()
                        )
                    )
                )
                for w in writes
            )
            requests.append(
                Request("dynamodb:BatchWriteItem", _table_arn(name), {"dynamodb:LeadingKeys": keys}, why=why)
            )
        return requests
    if operation == "BatchGetItem":
        return [
            Request("dynamodb:BatchGetItem", _table_arn(name), why=why) for name in params["RequestItems"]
        ]
    raise NotImplementedError(f"no IAM mapping for dynamodb.{operation}: add it to tests/iam/policy.py")


def requests_for(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    not_found: bool = False,
    presigned: bool = False,
) -> list[Request]:
    """What IAM authorises for one call of `service.operation` with `params` (its API parameters); a
    presigned one is authorised when someone uses the URL, with `s3:authType` REST-QUERY-STRING."""
    why = f"{service}.{operation}"
    if service == "s3":
        auth = {"s3:authType": ("REST-QUERY-STRING" if presigned else "REST-HEADER",)}
        return [
            Request(r.action, r.resource, {**auth, **r.context}, r.why)
            for r in _s3_requests(operation, params, not_found, why)
        ]
    if service == "dynamodb":
        return _dynamodb_requests(operation, params, why)
    if service == "sqs":
        if operation == "GetQueueUrl":
            arn = (
                f"arn:aws:sqs:{REGION}:{params.get('QueueOwnerAWSAccountId', ACCOUNT)}:{params['QueueName']}"
            )
            return [Request("sqs:GetQueueUrl", arn, why=why)]
        action = {
            "SendMessageBatch": "SendMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
        }.get(operation, operation)
        return [Request(f"sqs:{action}", _queue_arn(params["QueueUrl"]), why=why)]
    if service == "eventbridge":
        buses = {entry.get("EventBusName", "default") for entry in params["Entries"]}
        return [
            Request(
                "events:PutEvents",
                bus if bus.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}",
                why=why,
            )
            for bus in sorted(buses)
        ]
    if service == "secrets-manager":
        secret_id = params["SecretId"]
        assert secret_id.startswith("arn:"), "IAM matches a secret by ARN: name it by its ARN"
        return [Request(f"secretsmanager:{operation}", secret_id, why=why)]
    if service == "cloudfront-keyvaluestore":
        return [Request(f"cloudfront-keyvaluestore:{operation}", params["KvsARN"], why=why)]
    if service == "rekognition" and operation == "DetectLabels":
        return [Request("rekognition:DetectLabels", "*", why=why)]
    raise NotImplementedError(f"no IAM mapping for {service}.{operation}: add it to tests/iam/policy.py")


# The evaluator


def _like(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _string_test(operator: str) -> Any:
    tests = {
        "StringEquals": lambda expected, actual: expected == actual,
        "StringLike": _like,
        "StringNotEquals": lambda expected, actual: expected != actual,
        "StringNotLike": lambda expected, actual: not _like(expected, actual),
        "ArnEquals": lambda expected, actual: expected == actual,
        "ArnLike": _like,
    }
    if operator not in tests:
        raise NotImplementedError(f"condition operator {operator}: add it to tests/iam/policy.py")
    return tests[operator]


def condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, tuple[str, ...]]
) -> bool:
    """Every operator block holds; within one, every key; for one key, any of the listed values."""
    for operator, keys in condition.items():
        qualifier, _, base = operator.rpartition(":")
        if base == "Null":
            for key, expected in keys.items():
                if (key not in context) != (str(expected).lower() == "true"):
                    return False
            continue
        negated = base.startswith(("StringNot", "ArnNot"))
        test = _string_test(base)
        for key, listed in keys.items():
            expected_values = [str(v) for v in as_list(listed)]
            actual = context.get(key)
            if qualifier == "ForAllValues":
                # AWS: true when the request has no value for the key at all (the known pitfall).
                if actual and not all(any(test(e, a) for e in expected_values) for a in actual):
                    return False
            elif qualifier == "ForAnyValue":
                if not actual or not any(any(test(e, a) for e in expected_values) for a in actual):
                    return False
            else:
                if actual is None:
                    # A missing key fails a positive test and passes a negated one (IAM's rules).
                    if not negated:
                        return False
                    continue
                assert len(actual) == 1, f"{key} is multivalued: use ForAllValues/ForAnyValue"
                if negated:
                    if not all(test(e, actual[0]) for e in expected_values):
                        return False
                elif not any(test(e, actual[0]) for e in expected_values):
                    return False
    return True


@dataclass(frozen=True)
class Grant:
    """One (action, resource) pair of one statement: the unit a scenario uses or not."""

    statement: int
    action: str
    resource: str  # as the template says it (construct paths)


@dataclass
class Policy:
    function: str
    statements: list[Statement]

    def evaluate(self, request: Request) -> set[Grant] | None:
        """The grants that allow `request`, or None when it is not allowed (no Allow, or any Deny)."""
        allowed: set[Grant] = set()
        for number, statement in enumerate(self.statements):
            actions = [a for a in statement.actions if _like(a, request.action, case_sensitive=False)]
            resources = [
                (resolved, described)
                for resolved, described in zip(statement.resources, statement.described, strict=True)
                if _like(resolved, request.resource)
            ]
            if not actions or not resources or not condition_holds(statement.condition, request.context):
                continue
            if statement.effect == "Deny":
                return None
            allowed |= {Grant(number, a, d) for a in actions for _, d in resources}
        return allowed or None

    def grants(self) -> Iterator[Grant]:
        for number, statement in enumerate(self.statements):
            for action in statement.actions:
                for described in statement.described:
                    if statement.effect == "Allow":
                        yield Grant(number, action, described)


@dataclass(frozen=True)
class Unused:
    """An allow-list entry: grants matching these globs are not exercised by a scenario, and why."""

    action: str
    resource: str
    reason: str

    def covers(self, grant: Grant) -> bool:
        return fnmatch.fnmatchcase(grant.action, self.action) and fnmatch.fnmatchcase(
            grant.resource, self.resource
        )


def unexplained(policy: Policy, used: Iterable[Grant], allowed_unused: Sequence[Unused]) -> list[Grant]:
    """Grants no scenario used and no allow-list entry explains."""
    seen = set(used)
    return [
        grant
        for grant in policy.grants()
        if grant not in seen and not any(entry.covers(grant) for entry in allowed_unused)
    ]


def function_environment(template: Template, function_fragment: str, resolver: Resolver) -> dict[str, str]:
    """The function's environment as the template sets it, references resolved to moto's names."""
    _, function = by_path(template, "AWS::Lambda::Function", function_fragment)
    variables = props(function).get("Environment", {}).get("Variables", {})
    return {name: resolver.resolve(value) for name, value in variables.items()}
