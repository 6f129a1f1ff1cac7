"""Shopflow's data converter: the SDK's pydantic wire format, with the JSON converter (and its
pydantic TypeAdapters) shared by every workflow the worker runs instead of built per case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter

from shopflow.temporal import data_converter
from shopflow.workflows.order_fulfilment import OrderTimers
from shopflow.workflows.shared import CustomerData


def _inner(converter: Any) -> Any:
    return getattr(converter, "_inner_payload_converter", converter)


def test_payload_converters_share_their_type_adapters() -> None:
    first = data_converter._new_payload_converter()  # what the worker makes per workflow
    second = data_converter._new_payload_converter()
    assert first is not second
    json_first = [c for c in _inner(first).converters.values() if c.encoding == "json/plain"]
    json_second = [c for c in _inner(second).converters.values() if c.encoding == "json/plain"]
    assert json_first[0] is json_second[0]
    payload = first.to_payloads([CustomerData(id="c-1", name="Li")])
    assert second.from_payloads(payload, [CustomerData]) == [CustomerData(id="c-1", name="Li")]
    adapters = json_first[0]._type_adapter.cache_info().currsize  # type: ignore[attr-defined]
    first.from_payloads(payload, [CustomerData])
    assert json_first[0]._type_adapter.cache_info().currsize == adapters  # type: ignore[attr-defined]


def test_wire_format_is_the_sdks_pydantic_one() -> None:
    ours = data_converter.payload_converter
    sdk = pydantic_data_converter.payload_converter
    values = [CustomerData(id="c-1", name="Li", email="li@example.com"),
              OrderTimers(**{f: timedelta(seconds=5) for f in OrderTimers.__dataclass_fields__}),
              {"at": datetime(2030, 1, 2, tzinfo=UTC), "n": 1}, None, b"raw"]
    assert [p.SerializeToString() for p in ours.to_payloads(values)] == \
        [p.SerializeToString() for p in sdk.to_payloads(values)]
    decoded = sdk.from_payloads(ours.to_payloads(values[:1]), [CustomerData])
    assert decoded == values[:1]
