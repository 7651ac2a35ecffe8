"""POST /v1/batches and GET /v1/batches/{id}: creation, progress, isolation."""

from __future__ import annotations

from tests.unit.api.conftest import KEY_B, Api, assert_problem


def test_create_batch_then_read_its_progress(api: Api) -> None:
    # When a batch of 4 is created
    created = api.call("POST", "/v1/batches", body={"batch_id": "summer", "expected": 4})
    assert created.status == 201
    assert created.json["upload_prefix"] == "batches/acme/summer/"
    assert created.json["progress"] == 0.0
    # And ingest counts three of them done
    stored = api.repository.batches[("acme", "summer")]
    api.repository.batches[("acme", "summer")] = stored.model_copy(
        update={"ready": 2, "rejected": 1, "done": 3}
    )
    # Then the batch reports 3 of 4
    reply = api.call("GET", "/v1/batches/summer")
    assert reply.status == 200
    assert reply.json["done"] == 3
    assert reply.json["progress"] == 0.75
    assert reply.json["completed"] is False


def test_batch_without_expected_has_no_progress_and_gets_an_id(api: Api) -> None:
    reply = api.call("POST", "/v1/batches", body={})
    assert reply.status == 201
    assert reply.json["batch_id"].startswith("b_")
    assert reply.json["progress"] is None


def test_a_batch_id_is_created_once(api: Api) -> None:
    assert api.call("POST", "/v1/batches", body={"batch_id": "x"}).status == 201
    assert_problem(api.call("POST", "/v1/batches", body={"batch_id": "x"}), 409, "batch-exists")


def test_same_batch_id_in_two_tenants_are_two_batches(api: Api) -> None:
    assert api.call("POST", "/v1/batches", body={"batch_id": "x", "expected": 1}).status == 201
    assert api.call("POST", "/v1/batches", key=KEY_B, body={"batch_id": "x", "expected": 9}).status == 201
    assert api.call("GET", "/v1/batches/x").json["expected"] == 1
    assert api.call("GET", "/v1/batches/x", key=KEY_B).json["expected"] == 9


def test_another_tenants_batch_is_not_found(api: Api) -> None:
    api.add_batch(tenant="globex", batch_id="theirs")
    assert_problem(api.call("GET", "/v1/batches/theirs"), 404)
    assert_problem(api.call("POST", "/v1/batches/theirs/export"), 404)


def test_a_batch_can_be_created_without_a_body(api: Api) -> None:
    reply = api.call("POST", "/v1/batches")
    assert reply.status == 201
    assert reply.json["batch_id"].startswith("b_")
