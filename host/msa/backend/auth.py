"""Bearer tokens: phones and operators present one; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request

from msa.backend.errors import ApiError
from msa.backend.services import services
from msa.backend.store.base import Operator

SESSION_COOKIE = "msa_console"
CIC_OPERATOR = "cic_operator"


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def phone_token(request: Request) -> str:
    """The phone's bearer token; ApiError 401 without one."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "unauthorized", "Send the phone's token: 'Authorization: Bearer …'.")
    return token


def unknown_phone() -> ApiError:
    return ApiError(401, "unauthorized", "This phone token is not known; re-provision the phone.")


async def require_operator(request: Request, role: str = CIC_OPERATOR) -> Operator:
    """The operator behind the request's bearer token or session cookie.

    Raises ApiError 401 without a valid one, 403 for an operator of another role.
    """
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if not token:
        raise ApiError(
            401,
            "unauthorized",
            "Log in first: send 'Authorization: Bearer <operator token>' or open "
            "/console/login?token=<operator token>.",
        )
    operator = await services(request).store.operator_by_token(hash_token(token))
    if operator is None:
        raise ApiError(401, "unauthorized", "This operator token is not known; ask the tech desk.")
    if operator.role != role:
        raise ApiError(403, "forbidden", f"This needs the role {role}; you have {operator.role}.")
    return operator
