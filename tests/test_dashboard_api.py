"""The dashboard's JSON API over httpx, on SQLite and PostgreSQL: filters, paging, 404s, auth and
actions (DESIGN section 7a)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

import durable
from durable.dashboard import create_app

from .test_dashboard_flow import BAD_ORDER, ORDER, app, approval, checkout

pytestmark = pytest.mark.timeout(90)
BASE = "http://127.0.0.1"


async def wait_status(http: httpx.AsyncClient, instance_id: str, *wanted: str) -> dict[str, Any]:
    with anyio.fail_after(30):
        while True:
            body = (await http.get(f"/api/instances/{instance_id}")).json()
            if body["status"] in wanted:
                return body
            await anyio.sleep(0.02)


async def api_client(store: Any, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    server = create_app(store, token=token)
    async with server.router.lifespan_context(server):
        transport = httpx.ASGITransport(app=server)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http


@pytest.fixture
async def served(store_url: str) -> AsyncIterator[tuple[durable.Client, httpx.AsyncClient]]:
    """A worker and a client on a fresh store, the API over it, and three finished instances."""
    async with durable.Worker(app, store_url), durable.Client(store_url, app=app) as client:
        for order in (ORDER, BAD_ORDER):
            await client.start(checkout, order, instance_id=order["id"])
        await client.start(approval, "o-3", instance_id="o-3")
        async for http in api_client(store_url):
            await wait_status(http, "o-1", "COMPLETED")
            await wait_status(http, "o-2", "FAILED")
            await wait_status(http, "o-3", "RUNNING")
            yield client, http


async def test_instances_newest_first_with_filters_and_search(served: Any) -> None:
    _, http = served
    listed = (await http.get("/api/instances")).json()
    ids = [row["instance_id"] for row in listed["instances"]]
    assert set(ids) == {"o-1", "o-2", "o-3", "o-1-ship"}
    assert ids.index("o-3") < ids.index("o-2") < ids.index("o-1")  # newest first
    assert listed["next_cursor"] is None
    failed = (await http.get("/api/instances", params={"status": "failed"})).json()
    assert [row["instance_id"] for row in failed["instances"]] == ["o-2"]
    assert failed["instances"][0]["error_detail"]["type"] == "durable.ActivityFailed"
    named = (await http.get("/api/instances", params={"name": "ship"})).json()
    assert [row["instance_id"] for row in named["instances"]] == ["o-1-ship"]
    found = (await http.get("/api/instances", params={"q": "o-1"})).json()
    assert [row["name"] for row in found["instances"]] == ["checkout"]
    assert (await http.get("/api/instances", params={"q": "nope"})).json()["instances"] == []
    counts = (await http.get("/api/counts")).json()["counts"]
    assert counts["COMPLETED"] == 2 and counts["FAILED"] == 1 and counts["RUNNING"] == 1


async def test_tags_filter_the_list_and_show_on_an_instance(served: Any) -> None:
    client, http = served
    await client.start(approval, "o-4", instance_id="o-4", tags={"team": "a", "env": "prod"})
    await client.start(approval, "o-5", instance_id="o-5", tags={"team": "b"})
    tagged = (await http.get("/api/instances", params={"tag": "team=a"})).json()
    assert [row["instance_id"] for row in tagged["instances"]] == ["o-4"]
    assert tagged["instances"][0]["tags"] == {"team": "a", "env": "prod"}
    both = await http.get("/api/instances", params=[("tag", "team=a"), ("tag", "env=dev")])
    assert both.json()["instances"] == []
    assert (await http.get("/api/instances/o-5")).json()["tags"] == {"team": "b"}


async def test_paging_follows_the_cursor_to_the_end_without_repeats(served: Any) -> None:
    client, http = served
    for n in range(5):
        await client.start(approval, f"p-{n}", instance_id=f"p-{n}")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/instances", params=params)).json()
        assert len(page["instances"]) <= 3
        seen += [row["instance_id"] for row in page["instances"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 9
    assert seen[:5] == [f"p-{n}" for n in reversed(range(5))]


async def test_bad_arguments_are_400_and_unknown_ids_404(served: Any) -> None:
    _, http = served
    for params in ({"status": "LOST"}, {"limit": "0"}, {"cursor": "xx"}, {"tag": "team"}):
        response = await http.get("/api/instances", params=params)
        assert response.status_code == 400 and response.json()["error"]
    for path in ("/api/instances/nope", "/api/instances/nope/history", "/api/instances/nope/flow"):
        response = await http.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": "no instance 'nope'"}
    assert (await http.post("/api/instances/nope/terminate")).status_code == 404
    assert (await http.post("/api/instances/o-3/explode")).status_code == 404
    assert (await http.get("/api/nothing")).status_code == 404


async def test_an_instance_its_history_and_its_flow(served: Any) -> None:
    _, http = served
    body = (await http.get("/api/instances/o-1")).json()
    assert body["status"] == "COMPLETED" and body["input"] == ORDER
    assert body["output"]["tracking"] == "tracking-reserved-label-o-1"
    events = (await http.get("/api/instances/o-1/history")).json()["events"]
    assert events[0]["kind"] == "ExecutionStarted" and events[-1]["kind"] == "ExecutionCompleted"
    assert [event["seq"] for event in events] == list(range(len(events)))
    flow = (await http.get("/api/instances/o-1/flow")).json()
    fan_out = flow["steps"][1]["effects"]
    assert [flow["effects"][i]["label"] for i in fan_out] == ["reserve"] * 3
    ship = next(effect for effect in flow["effects"] if effect["kind"] == "suborchestration")
    assert ship["child"] == "o-1-ship" and ship["state"] == "done"
    assert [effect["label"] for effect in ship["flow"]["effects"]] == ["reserve"]
    failed = (await http.get("/api/instances/o-2/flow")).json()
    charge = next(effect for effect in failed["effects"] if effect["label"] == "charge")
    assert charge["state"] == "failed" and charge["attempts"] == 2
    assert "cannot charge -5 cents" in charge["error"]["message"]


async def test_actions_raise_suspend_resume_cancel_terminate(served: Any) -> None:
    client, http = served
    response = await http.post("/api/instances/o-3/suspend", json={"reason": "look"})
    assert response.status_code == 202
    await wait_status(http, "o-3", "SUSPENDED")
    assert (await http.post("/api/instances/o-3/resume")).status_code == 202
    await wait_status(http, "o-3", "RUNNING")
    assert (await http.post("/api/instances/o-3/events/approved", json={"by": "ann"})).is_success
    done = await wait_status(http, "o-3", "COMPLETED")
    assert done["output"] == {"order": "o-3", "approved": {"by": "ann"}}
    for action, status in (("terminate", "TERMINATED"), ("cancel", "CANCELED")):
        await client.start(approval, action, instance_id=action)
        await wait_status(http, action, "RUNNING")
        response = await http.post(f"/api/instances/{action}/{action}", json={"reason": "test"})
        assert response.json() == {"instance_id": action, "requested": action}
        await wait_status(http, action, status)
    assert (await http.post("/api/instances/o-3/terminate", content=b"{")).status_code == 400
    refused = await http.post("/api/instances/o-3/rewind")  # COMPLETED: nothing to rewind
    assert refused.status_code == 409 and "only a FAILED instance" in refused.json()["error"]


async def test_a_token_guards_every_request(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'guarded.db'}"
    async for http in api_client(url, token="s3cret"):
        for path in ("/api/instances", "/", "/static/app.js"):
            refused = await http.get(path)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = await http.get("/api/instances", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await http.get("/api/instances", headers={"Authorization": "Bearer s3cret"})
        assert right.json() == {"instances": [], "next_cursor": None}
        login = await http.get("/?token=s3cret")  # a browser keeps it in a cookie
        assert login.status_code == 303
        assert (await http.get("/api/workers")).status_code == 200


async def test_without_a_token_only_local_names_and_same_origin_posts(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'local.db'}"
    async for http in api_client(url):
        assert (await http.get("http://evil.example/api/instances")).status_code == 400
        assert (await http.get("http://localhost/api/instances")).status_code == 200
        page = await http.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        foreign = {"Origin": "http://evil.example"}
        response = await http.post("/api/instances/x/terminate", headers=foreign)
        assert response.status_code == 403
        with pytest.raises(durable.ConfigurationError, match="needs --token"):
            from durable.dashboard import serve

            serve(url, host="0.0.0.0")
