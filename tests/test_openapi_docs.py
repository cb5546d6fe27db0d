"""/openapi.json describes the API; /docs renders it with local assets only."""

from __future__ import annotations

import re

import httpx


async def test_openapi_describes_routes_and_key_auth(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/keys", "/api/v1/keys/{key_id}", "/health", "/health/ready", "/stats"} <= set(
        spec["paths"]
    )
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert spec["paths"]["/api/v1/keys"]["post"]["security"]
    assert "security" not in spec["paths"]["/health"]["get"]


async def test_docs_load_no_external_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text
    for asset in assets:
        assert asset.startswith("/"), f"external asset {asset}"
        assert (await client.get(asset)).status_code == 200, asset


async def test_every_schema_reference_resolves(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    text = str(spec)
    defined = set(spec.get("components", {}).get("schemas", {}))
    for reference in re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", text):
        assert reference in defined, f"dangling $ref to {reference}"


def test_the_documented_event_matches_the_decoded_one() -> None:
    import msgspec

    from monitor.web.api.events.schemas import EventIn, EventInDoc

    struct_fields = {f.name: f.required for f in msgspec.structs.fields(EventIn)}
    doc_fields = {name: field.is_required() for name, field in EventInDoc.model_fields.items()}
    assert struct_fields == doc_fields


def test_the_documented_sample_matches_the_decoded_one() -> None:
    import msgspec

    from monitor.web.api.metrics.schemas import IncrementIn, IncrementInDoc, SampleIn, SampleInDoc

    for struct, doc in ((SampleIn, SampleInDoc), (IncrementIn, IncrementInDoc)):
        struct_fields = {f.name: f.required for f in msgspec.structs.fields(struct)}
        doc_fields = {name: field.is_required() for name, field in doc.model_fields.items()}
        assert struct_fields == doc_fields, struct
