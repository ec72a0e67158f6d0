"""The botocore data the layer ships is the installed botocore's own, cut down to what the functions call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iotbridge import clients
from iotbridge.settings import ClientSettings
from tools import botocore_models


def shipped_files(folder: Path = botocore_models.FOLDER) -> dict[str, Any]:
    return {
        str(path.relative_to(folder)): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.rglob("*.json"))
    }


def test_the_shipped_folder_is_what_the_installed_botocore_gives() -> None:
    # A boto3 upgrade that changes these models fails here until `make botocore-models` rewrites the folder.
    assert shipped_files() == botocore_models.expected_files()


def test_each_service_keeps_exactly_the_operations_the_functions_call() -> None:
    for service, operations in botocore_models.OPERATIONS.items():
        model = botocore_models.read_json(botocore_models.botocore_data(service) / "service-2.json")
        shipped = botocore_models.model_slice(model, operations)

        assert sorted(shipped["operations"]) == sorted(operations)
        for name in operations:
            assert shipped["operations"][name] == model["operations"][name]
        assert shipped["metadata"] == model["metadata"]


def test_a_kept_shape_is_botocore_s_own_and_every_shape_it_names_is_kept() -> None:
    model = botocore_models.read_json(botocore_models.botocore_data("dynamodb") / "service-2.json")
    shipped = botocore_models.model_slice(model, ["PutItem"])
    shapes = shipped["shapes"]

    for name, shape in shapes.items():
        assert shape == model["shapes"][name]
        named = [shape[p]["shape"] for p in ("member", "key", "value") if p in shape]
        named += [m["shape"] for m in shape.get("members", {}).values()]
        assert set(named) <= set(shapes), name
    # AttributeValue refers to itself through its list and map members: reached once, kept once.
    assert {"AttributeValue", "ListAttributeValue", "MapAttributeValue"} <= set(shapes)
    assert "QueryInput" not in shapes
    assert "ConditionalCheckFailedException" in shapes  # an error PutItem declares


def test_the_endpoints_file_keeps_every_partition_and_only_the_functions_services() -> None:
    full = botocore_models.read_json(Path(botocore_models.botocore_data("sqs")).parents[1] / "endpoints.json")
    shipped = shipped_files()["endpoints.json"]

    assert [p["partition"] for p in shipped["partitions"]] == [p["partition"] for p in full["partitions"]]
    for kept, original in zip(shipped["partitions"], full["partitions"], strict=True):
        assert set(kept["services"]) <= {
            "secretsmanager",
            "sqs",
            "dynamodb",
            "api.iotmanagedintegrations",
            "lambda",
            "ssm",
            "data-ats.iot",
            "s3",
        }
        assert {k: v for k, v in kept.items() if k != "services"} == {
            k: v for k, v in original.items() if k != "services"
        }
        for name, service in kept["services"].items():
            assert service == original["services"][name]
    assert "sqs" in shipped["partitions"][0]["services"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    clients.reset_clients()
    yield
    clients.reset_clients()


def test_the_functions_session_reads_nothing_but_the_shipped_folders(aws_env: Any) -> None:
    loader = clients.botocore_session().get_component("data_loader")

    assert loader.search_paths == [str(clients.SERVICE_MODELS_DIR), str(clients.BOTOCORE_MODELS_DIR)]
    assert sorted(loader.list_available_services("service-2")) == sorted(
        [*botocore_models.OPERATIONS, "iotevents-data"]
    )


def test_a_function_client_offers_the_operations_it_needs_and_no_others(aws_env: Any) -> None:
    queue = clients.client("sqs", ClientSettings())

    assert callable(queue.send_message_batch)
    assert not hasattr(
        queue, "receive_message"
    )  # the forwarder gets its messages from Lambda, not by polling


def test_local_tools_still_see_all_of_botocore(aws_env: Any) -> None:
    loader = clients.new_session().get_component("data_loader")

    assert "s3" in loader.list_available_services("service-2")
    assert loader.search_paths[0] == str(clients.SERVICE_MODELS_DIR)
