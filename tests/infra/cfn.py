"""Small helpers for reading synthesised CloudFormation templates (plain JSON, no jsii in the workers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Template = dict[str, Any]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def props(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def path_of(resource: dict[str, Any]) -> str:
    path: str = resource.get("Metadata", {}).get("aws:cdk:path", "")
    return path


def by_path(template: Template, resource_type: str, fragment: str) -> tuple[str, dict[str, Any]]:
    """The one resource of `resource_type` whose construct path contains `fragment`."""
    found = {k: v for k, v in resources(template, resource_type).items() if fragment in path_of(v)}
    assert len(found) == 1, f"expected one {resource_type} under {fragment!r}, found {sorted(found)}"
    return next(iter(found.items()))


def ref_id(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement in identity policies (IAM policies and roles' inline policies)."""
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        properties = props(resource)
        documents = []
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(properties["PolicyDocument"])
        elif kind == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            documents.append(properties["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield logical_id, statement


def flatten(value: Any) -> str:
    """A readable string for an ARN built with Fn::Join / Fn::GetAtt / Ref."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(flatten(v) for v in value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return str(delimiter).join(flatten(p) for p in parts)
        if "Fn::GetAtt" in value:
            return f"<{value['Fn::GetAtt'][0]}.{value['Fn::GetAtt'][1]}>"
        if "Ref" in value:
            return f"<{value['Ref']}>"
    return str(value)


def role_statements(template: Template, function_fragment: str) -> list[tuple[list[str], list[str], Any]]:
    """(actions, resources as `flatten` writes them, condition) of every identity statement on the role of
    the one Lambda function whose construct path contains `function_fragment`, in template order."""
    _, function = by_path(template, "AWS::Lambda::Function", function_fragment)
    role = ref_id(props(function)["Role"])
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and role in {ref_id(r) for r in props(resource)["Roles"]}:
            for statement in props(resource)["PolicyDocument"]["Statement"]:
                found.append(
                    (
                        sorted(as_list(statement["Action"])),
                        [flatten(r) for r in as_list(statement["Resource"])],
                        statement.get("Condition"),
                    )
                )
    return found
