"""Issue 14, point 8: schemathesis over the whole OpenAPI document of a running stack (Temporal
dev server, `shopflow worker`, `shopflow api`), every operation called with a token of each role:
never a 5xx, and every answer matches its documented schema. Examples are derandomized (the same
inputs each run) and few per operation, so the whole run stays around a minute or two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.stack import Stack

ROLES = ("channel", "cs", "reviewer", "warehouse", "finance", "ops", "admin")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(Path(tmp_path_factory.mktemp("fuzz")), env={"SHOPFLOW_TASK_DUE": "PT1H"})
    try:
        s.start()
        with s.client() as http:
            admin = {"Authorization": "Bearer dev-admin"}
            assert http.post("/api/v1/products", headers=admin, json={
                "sku": "TEA", "name": "Tea", "sample_limit": 5}).status_code == 201
            assert http.post("/api/v1/inventory/receipts", headers=admin, json={
                "sku": "TEA", "quantity": 100, "note": "fuzz"}).status_code == 201
        yield s
    finally:
        s.stop_all()


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hsettings(max_examples=6, deadline=None, derandomize=True, database=None,
           suppress_health_check=list(HealthCheck))
def test_no_5xx_and_answers_match_the_schema(case: Any, stack: Stack) -> None:
    for role in ROLES:
        case.call_and_validate(
            base_url=stack.url, headers={"Authorization": f"Bearer dev-{role}"}, timeout=30,
            checks=[not_a_server_error, response_schema_conformance])
