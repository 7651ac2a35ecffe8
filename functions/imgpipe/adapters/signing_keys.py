"""The signing-key document in its Secrets Manager secret (JSON key id -> secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imgpipe.edge_store import parse_key_document, signing_keys_value


class SecretSigningKeys:
    """`client` is a boto3 `secretsmanager` client; `secret_id` the secret's ARN or name."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self.secret_id = secret_id

    def read(self) -> dict[str, str]:
        """The current document; raises ValueError naming what is wrong with it."""
        value = self._client.get_secret_value(SecretId=self.secret_id)
        text = value.get("SecretString")
        if not isinstance(text, str):
            raise ValueError(f"secret {self.secret_id} holds no text (SecretString)")
        return parse_key_document(text)

    def write(self, document: Mapping[str, str]) -> None:
        """A new version of the secret (the previous one stays as AWSPREVIOUS)."""
        self._client.put_secret_value(SecretId=self.secret_id, SecretString=signing_keys_value(document))
