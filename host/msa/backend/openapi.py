"""`GET /api/v1/openapi.json`: the phone API's description (openapi.json, next to
this module), which tests/backend/test_openapi.py holds the implementation to."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@cache
def description() -> dict[str, Any]:
    text = resources.files("msa.backend").joinpath("openapi.json").read_text(encoding="utf-8")
    return json.loads(text)


async def get_description(_request: Request) -> JSONResponse:
    return JSONResponse(description())


routes = [Route("/api/v1/openapi.json", get_description, methods=["GET"])]
