"""Edge-settings custom resource entry point (`edge_settings.handler.handler`).

CloudFormation invokes it directly (a plain `AWS::CloudFormation::CustomResource` whose service token is
this function) and waits for the answer PUT to the event's pre-signed `ResponseURL`:

- in: `RequestType` (Create | Update | Delete), `ResourceProperties` {`KeyValueStoreArn`,
  `SigningKeysSecretArn`, `Items` (the non-secret edge items), `SettingsHash`}, `OldResourceProperties`
  on Update, and the ids CloudFormation echoes back;
- out: SUCCESS with `PhysicalResourceId` = the store's ARN (stable across updates, so an Update never
  looks like a replacement), or FAILED with the reason, which CloudFormation shows as the deploy's error.

Every path answers, an unexpected error included: a custom resource that never answers holds the stack
for an hour.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3  # type: ignore[import-untyped]
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config  # type: ignore[import-untyped]

from edge_settings.service import EdgeSettings, EdgeSettingsService, SettingsRefused
from imgpipe.adapters.keyvaluestore import CloudFrontKeyValueStore
from imgpipe.adapters.signing_keys import SecretSigningKeys
from imgpipe.edge_store import StoreConflict
from imgpipe.observability import logger
from infra.constants import EDGE_KVS_SIGNING_KEYS

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=20)
# CloudFormation shows the reason; the whole response must stay under 4 096 bytes.
MAX_REASON_CHARS = 1_000
RESPONSE_TIMEOUT_S = 20

Responder = Callable[[str, bytes], None]
ServiceFactory = Callable[[str, str], EdgeSettingsService]


def put_response(url: str, body: bytes) -> None:
    """PUT the answer to CloudFormation's pre-signed S3 URL (an empty content type, as it is signed)."""
    if not url.startswith("https://"):
        raise ValueError("the ResponseURL is not https")
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_S) as response:
        response.read()


def _old_keys(event: Mapping[str, Any]) -> frozenset[str]:
    old = event.get("OldResourceProperties") or {}
    items = old.get("Items") if isinstance(old, Mapping) else None
    return frozenset(items) | {EDGE_KVS_SIGNING_KEYS} if isinstance(items, Mapping) else frozenset()


@dataclass
class EdgeSettingsApp:
    services: ServiceFactory
    respond: Responder = put_response

    @classmethod
    def from_session(cls, session: Any = None) -> EdgeSettingsApp:
        session = session or boto3.session.Session()

        def services(store_arn: str, secret_arn: str) -> EdgeSettingsService:
            store = CloudFrontKeyValueStore(
                session.client("cloudfront-keyvaluestore", config=_BOTO_CONFIG), store_arn
            )
            secret = SecretSigningKeys(session.client("secretsmanager", config=_BOTO_CONFIG), secret_arn)
            return EdgeSettingsService(store, secret)

        return cls(services=services)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        request_type = event.get("RequestType")
        properties = event.get("ResourceProperties") or {}
        store_arn = str(properties.get("KeyValueStoreArn") or "")
        # The store's ARN names what this resource manages; before one is known (a Create that fails
        # on its properties) the request id stands in, and the rollback's Delete of it does nothing.
        physical_id = str(event.get("PhysicalResourceId") or store_arn or event.get("RequestId") or "edge")
        answer: dict[str, Any] = {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Data": {}}
        logger.append_keys(request_type=request_type, store=store_arn)
        try:
            if request_type in ("Create", "Update"):
                settings = EdgeSettings.from_properties(properties)
                secret_arn = str(properties.get("SigningKeysSecretArn") or "")
                if not store_arn or not secret_arn:
                    raise SettingsRefused("KeyValueStoreArn and SigningKeysSecretArn are required")
                previous = _old_keys(event) if request_type == "Update" else frozenset()
                applied = self.services(store_arn, secret_arn).apply(settings, previous)
                answer["PhysicalResourceId"] = store_arn
                answer["Data"] = {"SettingsHash": applied.digest, "SigningKeys": str(applied.signing_keys)}
                logger.info(
                    "edge settings written",
                    extra={
                        "puts": list(applied.result.puts),
                        "deletes": list(applied.result.deletes),
                        "attempts": applied.result.attempts,
                        "settings_hash": applied.digest,
                        "signing_keys": applied.signing_keys,
                        "store_bytes": applied.result.state.total_bytes,
                    },
                )
            elif request_type == "Delete":
                logger.info("edge settings left in place (the store goes with the stack)")
            else:
                raise SettingsRefused(f"unknown RequestType {request_type!r}")
        except (SettingsRefused, StoreConflict) as error:
            logger.warning("edge settings refused", extra={"reason": str(error)})
            answer.update(Status="FAILED", Reason=str(error)[:MAX_REASON_CHARS])
        except Exception as error:  # answer anyway: a silent custom resource holds the stack for an hour
            logger.exception("edge settings failed")
            reason = f"{type(error).__name__}: {error}"[:MAX_REASON_CHARS]
            answer.update(Status="FAILED", Reason=reason)
        answer.setdefault("Reason", "see the function's log")
        body = {
            **answer,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
        }
        self.respond(str(event.get("ResponseURL") or ""), json.dumps(body).encode("utf-8"))
        return body


@cache
def app() -> EdgeSettingsApp:
    return EdgeSettingsApp.from_session()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app().handle(event)
