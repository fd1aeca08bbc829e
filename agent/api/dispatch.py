"""One complete request to its answer: the bearer token (TCP), the JSON body, the route."""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from agent.api.conn import Request
from agent.api.errors import ApiError
from agent.api.routes import Router

log = structlog.get_logger(__name__)


def handle(router: Router, token: bytes | None, req: Request) -> tuple[int, Any]:
    """Authorise, decode the body and route one request: (status, JSON document)."""
    try:
        if token is not None:
            auth = req.headers.get("authorization", "")
            if not hmac.compare_digest(auth.encode("latin-1"), b"Bearer " + token):
                raise ApiError(401, "unauthorized", "a valid bearer token is required on TCP")
        url = urlsplit(req.target)
        body = _json_body(req.body) if req.method in ("POST", "PUT") else None
        return router.handle(req.method, url.path, parse_qs(url.query), body)
    except ApiError as exc:
        return exc.status, exc.body()
    except Exception:
        log.exception("api_handler_failed", path=req.target[:200])
        return 500, {"error": {"code": "internal", "message": "internal error (see the agent log)"}}


def _json_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "bad_encoding", "the body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None
