"""The plug-in seam: the app serves exactly the adapters it is given (none: no vendor route, no
vendor table), and an adapter the core has never heard of plugs in with its router, its
middleware (on its own paths only) and its webhook body, through ``core.plugins.Adapter``."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from music_gen.service.adapters.common import VendorAdapter
from music_gen.service.app import create_app
from music_gen.service.core.infra.settings import Settings


def _settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, engine="test-tone", auth=False)


def _tables(tmp_path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'music-gen.db'}")
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_no_adapters_no_vendor_routes_or_tables(tmp_path):
    with TestClient(create_app(_settings(tmp_path), adapters=[])) as client:
        assert client.get("/api/v1/health").status_code == 200
        gone = client.post("/v1/meta-musicgen-medium", json={"prompt": "x"})
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
        assert client.post("/api/v6/voice/music_gen", json={}).status_code == 404
        assert client.app.state.service.webhooks.bodies == {}
    tables = _tables(tmp_path)
    assert "jobs" in tables and not any(t.startswith(("segmind", "aimlapi")) for t in tables)


class Stamp:
    """An adapter's middleware: marks every answer it sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-stamp", b"yes")]
            await send(message)

        await self.app(scope, receive, stamped)


def test_an_adapter_the_core_never_heard_of_plugs_in(tmp_path):
    router = APIRouter(prefix="/acme")

    @router.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "acme"}

    acme = VendorAdapter(
        name="acme",
        router=router,
        paths=("/acme/",),
        middleware=(Stamp,),
        webhook_body=lambda state, job: f'{{"acme": "{job.id}"}}',
    )
    with TestClient(create_app(_settings(tmp_path), adapters=[acme])) as client:
        answer = client.get("/acme/ping")
        assert answer.json() == {"pong": "acme"} and answer.headers["x-stamp"] == "yes"
        assert "x-stamp" not in client.get("/api/v1/health").headers  # its paths only
        body = client.app.state.service.webhooks.bodies["acme"]
        assert body(type("J", (), {"id": "job-1"})()) == '{"acme": "job-1"}'
