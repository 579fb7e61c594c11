"""``/docs``: the API's reference, rendered from its OpenAPI document, behind the sign-in.

Server-rendered from ``app.openapi()`` (no script or stylesheet from elsewhere, so it works
offline); ``/openapi.json`` itself is served to a signed-in browser too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from deltahook.console.render import page

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/docs")
def docs(request: Request) -> Response:
    """Every operation by tag: method, path, summary, parameters, body and answers."""
    document = request.app.openapi()
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, operations in document.get("paths", {}).items():
        for method in METHODS:
            if method in operations:
                operation = operations[method]
                tag = (operation.get("tags") or ["operations"])[0]
                groups.setdefault(tag, []).append(_operation(method, path, operation))
    return page(request, "docs.html", document=document, groups=groups)


def _operation(method: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    body = operation.get("requestBody", {}).get("content", {})
    return {
        "method": method.upper(),
        "path": path,
        "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
        "summary": operation.get("summary", ""),
        "description": operation.get("description", ""),
        "parameters": [
            {
                "name": p["name"],
                "where": p["in"],
                "required": p.get("required", False),
                "description": p.get("description", ""),
                "type": _type(p.get("schema", {})),
            }
            for p in operation.get("parameters", [])
        ],
        "body": sorted(body),
        "responses": [
            (status, answer.get("description", ""))
            for status, answer in sorted(operation.get("responses", {}).items())
        ],
        "open": operation.get("security") == [],
    }


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = str(schema.get("type", "any"))
    if "enum" in schema:
        kind += " (" + ", ".join(map(str, schema["enum"])) + ")"
    return kind
