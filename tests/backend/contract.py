"""The OpenAPI description as a contract: every JSON answer must match it.

`Contract.check` finds the documented operation of a request, fails on a status
it does not document, and validates a JSON body against the status's schema
(JSON Schema 2020-12, as OpenAPI 3.1 has it). `seen` collects what was checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from msa.backend.openapi import document

DOCUMENT_URI = "urn:msa:openapi"


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class Contract:
    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.doc = doc or document()
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)
        self.templates = [
            (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>\\d+)", path) + "$"), path)
            for path in self.doc["paths"]
        ]
        self.seen: set[tuple[str, str, str]] = set()

    def template(self, path: str) -> str | None:
        for pattern, template in self.templates:
            if pattern.match(path):
                return template
        return None

    def documented(self) -> set[tuple[str, str, str]]:
        """Every (METHOD, path template, status) the description lists."""
        return {
            (method.upper(), path, status)
            for path, operations in self.doc["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
        }

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        template = self.template(path)
        operation = self.doc["paths"].get(template or "", {}).get(method.lower())
        if operation is None:
            return  # not an operation of the API (a page, or a method Starlette refuses)
        responses = operation["responses"]
        assert str(status) in responses, (
            f"{method} {path} answered {status}, which the OpenAPI description does not list "
            f"(it lists {sorted(responses)}): {body[:300]!r}"
        )
        self.seen.add((method.upper(), template, str(status)))
        if not content_type.startswith("application/json"):
            return
        assert "application/json" in responses[str(status)].get("content", {}), (
            f"{method} {path} {status} sent JSON the description does not announce"
        )
        pointer = _pointer(
            "paths",
            template,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        )
        validator = Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#/{pointer}"},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(json.loads(body)), key=lambda e: list(e.path))
        assert not errors, f"{method} {path} {status} does not match the description: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )

    async def on_response(self, response: httpx.Response) -> None:
        """An httpx response hook: check every answer (JSON bodies only are read)."""
        content_type = response.headers.get("content-type", "")
        body = await response.aread() if content_type.startswith("application/json") else b""
        self.check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            content_type,
            body,
        )
