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
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.stack import Stack

ROLES = ("channel", "cs", "reviewer", "warehouse", "finance", "ops", "admin", "product")
EXAMPLES = 4  # per operation; x 7 roles


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


def test_no_5xx_and_answers_match_the_schema(stack: Stack) -> None:
    """Every operation, a few generated requests each (valid and odd values the schema
    allows), sent with each role's token. Failures are collected, not shrunk, so one run
    lists them all."""
    schema = schemathesis.openapi.from_url(f"{stack.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1

        @hsettings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            label = case.operation.label
            for role in ROLES:
                try:
                    response = case.call(base_url=stack.url, timeout=60,
                                         headers={"Authorization": f"Bearer dev-{role}"})
                except Exception as err:  # a dropped connection is a failure too
                    failures.append(f"{label} as {role}: {err!r}"[:300])
                    continue
                if response.status_code >= 500:
                    failures.append(f"{label} as {role}: {response.status_code} "
                                    f"{response.text[:200]}")
                    continue
                try:
                    case.validate_response(response, checks=[response_schema_conformance])
                except Exception as err:
                    failures.append(f"{label} as {role}: {response.status_code} does not "
                                    f"match its schema: {str(err)[:200]}")

        run()
    assert operations > 40
    assert failures == [], "\n".join(sorted(set(failures))[:40])
