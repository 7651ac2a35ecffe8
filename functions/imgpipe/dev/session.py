"""Credentials and clients for the embedded AWS (light: boto3 only, no moto)."""

from __future__ import annotations

from typing import Any

import boto3  # type: ignore[import-untyped]

LOCAL_REGION = "us-east-1"
# moto accepts any credentials; local ones keep a local client from ever signing with a real key from the
# user's environment. The running stack's session signs with its data directory's own secret (presigned
# POSTs are checked against it); other clients of the embedded AWS may use any.
LOCAL_ACCESS_KEY = "imgpipe-local"
ANY_SECRET_KEY = "imgpipe-local-any"


class LocalSession:
    """A boto3 session whose clients talk to the embedded AWS (what `IngestApp.from_settings` takes)."""

    def __init__(self, endpoint: str, secret_key: str = ANY_SECRET_KEY) -> None:
        self.endpoint = endpoint
        self.region_name = LOCAL_REGION
        self.secret_key = secret_key
        self._session = boto3.session.Session(
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=secret_key,
            region_name=LOCAL_REGION,
        )

    def client(self, service_name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", self.endpoint)
        return self._session.client(service_name, **kwargs)
