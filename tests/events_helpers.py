"""Small helpers shared by the event tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def tag() -> str:
    """A unique source name, so a test sees only its own events in the shared database."""
    return f"test-{uuid.uuid4().hex[:12]}"


async def ingest(client: httpx.AsyncClient, token: str, events: list[dict[str, Any]]) -> list[str]:
    response = await client.post("/api/v1/events/bulk", headers={"X-API-Key": token}, json=events)
    assert response.status_code == 201, response.text
    ids: list[str] = response.json()["ids"]
    return ids


async def list_all(
    client: httpx.AsyncClient, token: str, params: dict[str, Any], page_size: int = 1000
) -> list[dict[str, Any]]:
    """Every page of GET /api/v1/events."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": page_size, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/events", headers={"X-API-Key": token}, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
