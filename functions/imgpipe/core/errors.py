"""The two ways the engine refuses work: a bad image and a bad request."""

from __future__ import annotations

from typing import Literal

RejectionReason = Literal[
    "empty",
    "not-an-image",
    "unsupported-format",
    "type-mismatch",
    "truncated",
    "corrupt",
    "bomb",
    "pixel-limit",
    "too-many-frames",
    "too-large",
]


class Rejected(Exception):
    """The source cannot be processed; `reason` is a stable machine code, `message` is for people."""

    def __init__(self, reason: RejectionReason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: RejectionReason = reason
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}


class SpecError(ValueError):
    """A transformation request is malformed; `param` names the offending query parameter."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
