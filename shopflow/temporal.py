"""Connecting to Temporal (embedded dev server, a cluster, or Temporal Cloud) by settings alone."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.service import RPCError, RPCStatusCode

from shopflow.settings import Settings

# The worker makes a payload converter for every workflow it runs. The SDK's pydantic converter
# keeps its TypeAdapters (pydantic schemas built per type) per converter, so each cached case
# built and kept its own (~20 KiB of a waiting order, measured with tracemalloc). One JSON
# converter shared by every case builds each type's adapter once; it holds no other state, and
# its cache is bounded (1024 types, least recently used out).
_SHARED_JSON = PydanticJSONPlainPayloadConverter()


class SharedPydanticPayloadConverter(CompositePayloadConverter):
    """The SDK's pydantic payload converter (same wire format), with one shared JSON converter."""

    def __init__(self) -> None:
        super().__init__(*(
            _SHARED_JSON if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters))


data_converter = DataConverter(payload_converter_class=SharedPydanticPayloadConverter)

SEARCH_ATTRIBUTES = {
    "ShopflowKind": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ShopflowStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ShopflowCustomerId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    tls: bool | TLSConfig = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    elif settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls,
        data_converter=data_converter,
        lazy=lazy,
    )


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register Shopflow's custom search attributes where missing; returns those added."""
    try:
        current = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(current.custom_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        known = set()
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
