"""Every deployed handler cold-starts with nothing but what Lambda gives it, and reaches its first AWS call.

On Lambda a function sees its code asset (/var/task), its layer (/opt/python), the runtime's boto3 and the
standard library, and the environment the template sets; nothing else. The other tests import the handlers
from the repository with the whole virtualenv on `sys.path`, which would hide a module missing from the
asset, a dependency missing from the layer or a setting missing from the template. Here each handler runs in
a fresh `python -I -S` (no site-packages, no PYTHONPATH) with exactly:

- the asset, as `infra.bundle` builds it for the stack;
- a twin of the layer: the same locked wheels (`uv.lock`, by hash) for this machine's architecture, since the
  aarch64 layer cannot be loaded on this host (the aarch64 build itself is checked in test_layer.py);
- the runtime's boto3/botocore (the test environment's copies, which stand in for /var/runtime);
- the function's environment variables from the synthesised template, references resolved to placeholders;

and every AWS call goes through a loopback proxy that records it and refuses it (but for the signing keys,
which it hands out so that the work behind them is reached), so the first calls are seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import util
from pathlib import Path
from typing import Any

import pytest

from infra.bundle import bundle_function_code
from layers.build import OUT, build_layer, host_platforms
from tests.events import sqs_event, upload_message

REGION = "us-east-1"
ACCOUNT = "123456789012"
# What the Lambda runtime itself provides beside the standard library (its /var/runtime).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six", "jmespath")
# Each entry point with an event it would really receive, and the services its first AWS call may go to.
FUNCTION_URL_EVENT = {
    "version": "2.0",
    "rawPath": "/uploads/acme/cat.jpg",
    "rawQueryString": "preset=small&fm=webp",
    "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "accept": "image/webp"},
    "queryStringParameters": {"preset": "small", "fm": "webp"},
    "requestContext": {
        "http": {"method": "GET", "path": "/uploads/acme/cat.jpg", "sourceIp": "127.0.0.1"},
        "requestId": "r1",
        "timeEpoch": 1765022400000,
    },
    "isBase64Encoded": False,
}
REST_EVENT = {
    "resource": "/{proxy+}",
    "path": "/v1/images",
    "httpMethod": "GET",
    "headers": {"x-api-key": "k" * 40, "Host": "api.example.com"},
    "multiValueHeaders": {"x-api-key": ["k" * 40]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": {"proxy": "v1/images"},
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/{proxy+}",
        "httpMethod": "GET",
        "path": "/dev/v1/images",
        "stage": "dev",
        "requestId": "r1",
        "identity": {"apiKey": "k" * 40, "apiKeyId": "abcdef1234", "sourceIp": "127.0.0.1"},
    },
    "body": None,
    "isBase64Encoded": False,
}


def _upload_event(environment: dict[str, str], _: dict[str, Any]) -> dict[str, Any]:
    originals = next(v for k, v in environment.items() if k.endswith("ORIGINALS_BUCKET"))
    return sqs_event([upload_message("uploads/acme/cat.jpg", bucket=originals)])


def _custom_resource_event(properties: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation Create as it reaches the function; the answer URL refuses at once (loopback)."""
    return {
        "RequestType": "Create",
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:edge-settings",
        "ResponseURL": "https://127.0.0.1:9/cloudformation-response",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/imgpipe-dev/1",
        "RequestId": "00000000-0000-4000-8000-000000000001",
        "LogicalResourceId": "EdgeSettings",
        "ResourceType": "Custom::EdgeSettings",
        "ResourceProperties": properties,
    }


SIGNING_KEYS_SECRET = {
    "ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:signing-keys-AbCdEf",
    "Name": "signing-keys",
    "VersionId": "00000000-0000-4000-8000-000000000002",
    "SecretString": json.dumps({"k2026": "cold-start-probe-signing-key-0123456789"}),
    "CreatedDate": 1765022400,
}


@dataclass(frozen=True)
class EntryPoint:
    # From the function's environment and the resolved properties of the custom resource it serves, if any
    event: Callable[[dict[str, str], dict[str, Any]], dict[str, Any]]
    services: frozenset[str]  # where its first AWS call may go
    reaches: str | None = None  # a service it must also get to call (with the signature it needs there)


ENTRY_POINTS = {
    "ingest.handler.handler": EntryPoint(_upload_event, frozenset({"s3", "dynamodb"})),
    # resize reads the signing keys before it checks a signature
    "resize.handler.handler": EntryPoint(lambda *_: FUNCTION_URL_EVENT, frozenset({"secretsmanager", "s3"})),
    "api.handler.handler": EntryPoint(lambda *_: REST_EVENT, frozenset({"dynamodb"})),
    # The KeyValueStore sync reads the signing keys first, then writes the store: the KVS API is signed
    # with SigV4A only, which botocore can do only with the AWS CRT, so it must be in the layer.
    "edge_settings.handler.handler": EntryPoint(
        lambda _, properties: _custom_resource_event(properties),
        frozenset({"secretsmanager"}),
        reaches="cloudfront-keyvaluestore",
    ),
}

_RUN = """
import importlib, json, sys
asset, layer, runtime, handler, event_file = sys.argv[1:6]
sys.path[:0] = [asset, layer, runtime]
module_name, function_name = handler.rsplit(".", 1)

class Context:
    function_name = "imgpipe-cold-start"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:imgpipe-cold-start"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/imgpipe-cold-start"
    log_stream_name = "stream"
    def get_remaining_time_in_millis(self):
        return 30_000

function = getattr(importlib.import_module(module_name), function_name)
loaded = sorted(name for name in sys.modules if not name.startswith("_"))
try:
    answer = function(json.load(open(event_file)), Context())
    outcome = {"answer": answer}
except Exception as exc:  # the refused AWS call may surface as an exception: that is fine here
    outcome = {"raised": f"{type(exc).__name__}: {exc}"}
files = (getattr(sys.modules[name], "__file__", None) for name in loaded)
outcome["modules"] = [file for file in files if file]
print("COLD-START " + json.dumps(outcome, default=str))
"""


class _Recorder(BaseHTTPRequestHandler):
    calls: list[dict[str, str]]

    def _refuse(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        authorization = self.headers.get("authorization", "")
        # Credential scope: {key}/{date}/{region}/{service}/aws4_request (SigV4A has no region)
        scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        target = self.headers.get("x-amz-target", "")
        self.calls.append(
            {
                "method": self.command,
                "path": self.path,
                "service": scope[-2] if len(scope) > 3 else "",
                "algorithm": authorization.split(" ", 1)[0],
                "target": target,
            }
        )
        if target == "secretsmanager.GetSecretValue":  # so that work past the keys is reached too
            self._answer(200, json.dumps(SIGNING_KEYS_SECRET).encode(), "application/x-amz-json-1.1")
            return
        body = b'{"__type":"AccessDeniedException","message":"cold-start probe"}'
        if self.headers.get("x-amz-target") is None:  # S3 and the query protocols answer XML
            body = b"<Error><Code>AccessDenied</Code><Message>cold-start probe</Message></Error>"
        self._answer(403, body, "application/xml" if body.startswith(b"<") else "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _refuse  # noqa: N815 (http.server's names)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, str]]]]:
    calls: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def lambda_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    asset = tmp_path_factory.mktemp("asset")
    bundle_function_code(asset)
    layer = build_layer(out=OUT / "host", platforms=host_platforms()) / "python"
    runtime = tmp_path_factory.mktemp("runtime")
    for name in RUNTIME_PACKAGES:
        spec = util.find_spec(name)
        assert spec is not None and spec.origin, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return asset, layer, runtime


def _placeholder(value: Any, resources: dict[str, Any]) -> str:
    """A template value as a plausible string: references become names and ARNs of made-up resources."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list):
        return ",".join(_placeholder(v, resources) for v in value)
    (function, argument), *_ = value.items()
    if function == "Ref":
        if argument.startswith("AWS::"):
            return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}.get(
                argument, "amazonaws.com"
            )
        kind = resources.get(argument, {}).get("Type", "")
        name = argument.lower()[:40]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
        return str(name)
    if function == "Fn::GetAtt":
        logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        kind = str(resources.get(logical, {}).get("Type", "AWS::Unknown::X"))
        if attribute == "Arn" and kind == "AWS::CloudFront::KeyValueStore":  # botocore checks its shape
            return f"arn:aws:cloudfront::{ACCOUNT}:key-value-store/0bd1b2a8-1c8f-4f8e-9b1e-3c1d2e3f4a5b"
        if attribute.endswith("Arn"):
            return f"arn:aws:{kind.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{logical.lower()}"
        if attribute in ("DomainName", "RegionalDomainName"):
            return f"{logical.lower()[:20]}.cloudfront.net"
        if attribute == "FunctionUrl":
            return f"https://{logical.lower()[:20]}.lambda-url.{REGION}.on.aws/"
        return str(logical).lower()
    if function == "Fn::Join":
        separator, parts = argument
        return str(separator).join(_placeholder(part, resources) for part in parts)
    if function == "Fn::Select":
        index, items = argument
        resolved = _placeholder(items, resources).split(",")
        return resolved[int(index)] if int(index) < len(resolved) else ""
    if function == "Fn::Split":
        separator, text = argument
        return ",".join(_placeholder(text, resources).split(separator))
    raise AssertionError(f"no placeholder for {function} in an environment variable")


def _resolved(value: Any, resources: dict[str, Any]) -> Any:
    """A nested template value with every intrinsic function replaced by its placeholder."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return _placeholder(value, resources)
        return {key: _resolved(item, resources) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, resources) for item in value]
    return value


def _served_properties(logical: str, resources: dict[str, Any]) -> dict[str, Any]:
    """The properties of the custom resource whose service token is this function (empty if none)."""
    for resource in resources.values():
        properties = resource.get("Properties", {})
        token = properties.get("ServiceToken")
        if resource["Type"].startswith("Custom::") and token == {"Fn::GetAtt": [logical, "Arn"]}:
            served = {k: v for k, v in properties.items() if k != "ServiceToken"}
            resolved: dict[str, Any] = _resolved(served, resources)
            return resolved
    return {}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every imgpipe function (CDK's own helper functions have other handlers)."""
    return {
        logical: resource["Properties"]
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler", "").endswith(".handler.handler")
    }


def test_every_imgpipe_function_has_a_cold_start_scenario(dev: dict[str, Any]) -> None:
    handlers = {props["Handler"] for props in _functions(dev).values()}
    assert handlers <= ENTRY_POINTS.keys(), f"add an event for {handlers - ENTRY_POINTS.keys()}"
    assert {"ingest.handler.handler", "resize.handler.handler", "api.handler.handler"} <= handlers


def test_each_handler_imports_from_its_asset_and_layer_alone_and_reaches_aws(
    dev: dict[str, Any],
    lambda_paths: tuple[Path, Path, Path],
    endpoint: tuple[str, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    asset, layer, runtime = lambda_paths
    url, calls = endpoint
    resources = dev["Resources"]
    seen: set[str] = set()
    for logical, props in sorted(_functions(dev).items()):
        handler = props["Handler"]
        if handler in seen:  # the two ingest lanes share a handler and settings shape
            continue
        seen.add(handler)
        entry = ENTRY_POINTS[handler]
        # Given exactly the environment the template gives this function
        variables = props.get("Environment", {}).get("Variables", {})
        environment = {name: _placeholder(value, resources) for name, value in variables.items()}
        environment |= {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "ASIACOLDSTARTPROBE00",
            "AWS_SECRET_ACCESS_KEY": "cold-start-probe-secret",
            "AWS_SESSION_TOKEN": "cold-start-probe-token",
            # Every service at one made-up host, reached through the recorder as an HTTP proxy: the KVS
            # client puts the account id in front of the host name, which no loopback address survives.
            "AWS_ENDPOINT_URL": "http://aws.cold-start.invalid",
            "HTTP_PROXY": url,
            "AWS_LAMBDA_FUNCTION_NAME": logical,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", 128)),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "LAMBDA_TASK_ROOT": str(asset),
            "_X_AMZN_TRACE_ID": "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=0",
            "AWS_MAX_ATTEMPTS": "1",
            "PATH": "/usr/bin:/bin",
        }
        event_file = tmp_path / f"{logical}.json"
        event = entry.event(environment, _served_properties(logical, resources))
        event_file.write_text(json.dumps(event), encoding="utf-8")
        calls.clear()
        # When the handler is imported and invoked in a bare interpreter
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _RUN, str(asset), str(layer), str(runtime), handler,
             str(event_file)],
            env=environment, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        lines = [line for line in result.stdout.splitlines() if line.startswith("COLD-START ")]
        logs = result.stdout.rsplit("COLD-START ", 1)[0][-3000:]
        # Then it loaded (no missing module or setting) and made an AWS call where its work starts
        assert result.returncode == 0 and lines, (
            f"{logical} ({handler}) did not start:\n{result.stderr[-4000:]}"
        )
        outcome = json.loads(lines[-1].removeprefix("COLD-START "))
        assert "ModuleNotFoundError" not in outcome.get("raised", ""), outcome["raised"]
        assert calls, f"{logical} made no AWS call: {outcome.get('raised') or outcome['answer']}\n{logs}"
        assert calls[0]["service"] in entry.services, f"{logical}: first call {calls[0]}"
        if entry.reaches:
            reached = [call for call in calls if call["service"] == entry.reaches]
            assert reached, f"{logical} never called {entry.reaches}: {calls} {outcome.get('raised')}\n{logs}"
            if entry.reaches == "cloudfront-keyvaluestore":
                assert reached[0]["algorithm"] == "AWS4-ECDSA-P256-SHA256", reached[0]
        # And every module it loaded came from the asset, the layer, the runtime or the standard library
        allowed = (str(asset), str(layer), str(runtime), sys.base_prefix)
        strays = [path for path in outcome["modules"] if not path.startswith(allowed)]
        assert not strays, f"{logical} loaded modules from outside Lambda's paths: {strays[:5]}"
