"""GET /v1/logs: the logs fleet command's query over the local API (docs/api.md)."""

from __future__ import annotations

import pytest

from agent.api.errors import ApiError
from agent.api.routes import Router
from agent.runtime.logs import RING


@pytest.fixture
def router() -> Router:
    return Router(None)  # type: ignore[arg-type]  # the logs route uses no service


def test_query_parameters_are_the_commands_arguments(router: Router) -> None:
    for i in range(3):
        RING.append({"event": f"route-{i}", "level": "error" if i else "info", "timestamp": "2026-12-02T10:00:00Z"})
    code, page = router.handle("GET", "/v1/logs", {"lines": ["2"], "level": ["error"]}, None)
    assert code == 200 and [ln["event"] for ln in page["lines"]] == ["route-1", "route-2"]
    assert page["next"] is None and page["gap"] is False


@pytest.mark.parametrize("query", [{"lines": ["many"]}, {"lines": ["0"]}, {"level": ["loud"]}, {"grep": ["x"]},
                                   {"cursor": ["0123abcd.1.2.info"], "lines": ["3"]}, {"since": ["10:00"]}])
def test_a_wrong_parameter_is_400_bad_query(router: Router, query: dict[str, list[str]]) -> None:
    with pytest.raises(ApiError) as exc:
        router.handle("GET", "/v1/logs", query, None)
    assert (exc.value.status, exc.value.code) == (400, "bad_query")
