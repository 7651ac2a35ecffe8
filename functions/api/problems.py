"""Refusals as RFC 9457 problems: the service raises `ApiProblem`, the handler renders it.

Details are written for the caller and never carry exception text, stack traces or resource names.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from api.models import FieldError, Problem
from imgpipe.delivery import PROBLEM_TYPE_PREFIX

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors

    def body(self, instance: str | None = None) -> Problem:
        return problem(self.status, self.code, self.detail, instance=instance, errors=self.errors)


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> Problem:
    return Problem(
        type=PROBLEM_TYPE_PREFIX + code,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=[FieldError.model_validate(error) for error in errors] if errors is not None else None,
    )


def not_found(what: str) -> ApiProblem:
    # The same answer for "does not exist" and "belongs to another tenant": existence is not disclosed.
    return ApiProblem(404, "not-found", f"no such {what}")


def too_many(code: str, detail: str, retry_after: int) -> ApiProblem:
    return ApiProblem(429, code, detail, headers={"Retry-After": str(retry_after)})
