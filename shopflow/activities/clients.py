"""The worker's own Temporal client, for the activities that start or update other workflows."""

from __future__ import annotations

from temporalio.client import Client


def need_client(client: Client | None, what: str) -> Client:
    """``client``, or a clear error where the activities were built without one."""
    if client is None:
        raise RuntimeError(f"{what} needs a Temporal client (build_activities client=)")
    return client
