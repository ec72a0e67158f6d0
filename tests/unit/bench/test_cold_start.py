"""The cold-start benchmark: import-time parsing, patched copies, the layer folder, first requests.

No timing is asserted here: benchmarks never fail on a slow machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cold_start import (
    Patch,
    PatchDoesNotApply,
    UnexpectedAnswer,
    apply_patches,
    check_answer,
    parse_importtime,
    top_imports,
)
from bench.lambda_layer import requirement_names

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |     _io_helper
import time:      2000 |      52000 |   botocore.client
import time:       500 |      90000 | boto3
import time:       900 |        900 | handler_helpers
some other line
"""


def test_importtime_lines_are_parsed_with_their_depth_and_the_header_skipped() -> None:
    costs = parse_importtime(IMPORTTIME)

    assert [(c.module, c.self_us, c.cumulative_us, c.depth) for c in costs] == [
        ("_io_helper", 120, 120, 2),
        ("botocore.client", 2000, 52000, 1),
        ("boto3", 500, 90000, 0),
        ("handler_helpers", 900, 900, 0),
    ]


def test_top_imports_are_ordered_by_cumulative_time() -> None:
    assert [c.module for c in top_imports(parse_importtime(IMPORTTIME), 2)] == ["boto3", "botocore.client"]


def test_import_time_is_summed_by_top_level_package_without_counting_twice() -> None:
    from bench.cold_start import imports_by_distribution

    totals = dict(imports_by_distribution(parse_importtime(IMPORTTIME)))

    assert totals == {"boto3": 0.5, "botocore": 2.0, "(standard library)": 0.12, "handler_helpers": 0.9}


def test_imports_after_the_init_phase_are_not_counted_as_the_init_s() -> None:
    from bench.lambda_init import INIT_DONE

    costs = parse_importtime(
        IMPORTTIME + INIT_DONE + "\nimport time:       700 |        700 | bench.answered_aws\n"
    )

    assert "bench.answered_aws" not in [c.module for c in costs]
    assert len(costs) == 4


def test_a_patch_replaces_its_text_once_in_the_copy(tmp_path: Path) -> None:
    handler = tmp_path / "functions" / "fn" / "fn.py"
    handler.parent.mkdir(parents=True)
    handler.write_text("from x import Logger, Tracer\ntracer = Tracer()\n", encoding="utf-8")

    apply_patches(tmp_path, [Patch("functions/fn/fn.py", "tracer = Tracer()\n", "")])

    assert handler.read_text(encoding="utf-8") == "from x import Logger, Tracer\n"


def test_a_patch_whose_text_is_gone_says_so_instead_of_measuring_the_wrong_code(tmp_path: Path) -> None:
    (tmp_path / "fn.py").write_text("print('changed')\n", encoding="utf-8")
    with pytest.raises(PatchDoesNotApply, match="no longer contains"):
        apply_patches(tmp_path, [Patch("fn.py", "tracer = Tracer()\n", "")])


def test_requirement_names_skip_comments_options_and_versions() -> None:
    lines = ["# runtime", "boto3==1.44.5", "", "-r other.txt", "aws-lambda-powertools>=3  # logs", "regex"]
    assert requirement_names(lines) == ["boto3", "aws-lambda-powertools", "regex"]


def test_a_first_request_that_did_not_do_its_job_is_not_measured() -> None:
    good = {"calls": {}, "unanswered": {}, "messages_sent": 1, "response": {"statusCode": 202}}
    check_answer("webhook", good)
    with pytest.raises(UnexpectedAnswer):
        check_answer("webhook", {**good, "response": {"statusCode": 401}})
    with pytest.raises(UnexpectedAnswer, match="does not answer"):
        check_answer("nothing", {**good, "response": {}, "unanswered": {"sqs.ListQueues": 1}})


def test_a_first_command_that_did_not_reach_the_device_cloud_is_not_measured() -> None:
    good = {
        "calls": {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1, "ssm.GetParameter": 1},
        "unanswered": {},
        "device_cloud_calls": 1,
        "response": {"header": {"responseCode": 200}, "payload": {"responseMessage": "ok"}},
    }
    check_answer("command", good)
    with pytest.raises(UnexpectedAnswer):
        check_answer("command", {**good, "device_cloud_calls": 0})
    with pytest.raises(UnexpectedAnswer):
        check_answer("command", {**good, "response": {"header": {"responseCode": 504}}})


def test_a_first_rest_command_that_queued_no_response_or_sent_no_signed_command_is_not_measured() -> None:
    calls = {
        "ssm.GetParameter": 1,
        "secrets-manager.GetSecretValue": 1,
        "dynamodb.PutItem": 1,
        "sqs.SendMessageBatch": 1,
        "dynamodb.UpdateItem": 1,
    }
    good = {
        "calls": calls,
        "unanswered": {},
        "messages_sent": 1,
        "device_cloud_calls": 1,
        "response": {"header": {"responseCode": 200}, "payload": {"responseMessage": "ok"}},
    }
    check_answer("rest-command", good)
    with pytest.raises(UnexpectedAnswer):
        check_answer("rest-command", {**good, "device_cloud_calls": 0})
    with pytest.raises(UnexpectedAnswer):
        check_answer("rest-command", {**good, "messages_sent": 0})
    with pytest.raises(UnexpectedAnswer):
        check_answer("rest-command", {**good, "calls": {**calls, "dynamodb.UpdateItem": 0}})


def test_a_first_rest_command_is_a_general_authorization_invocation_the_profile_allows() -> None:
    import json

    from bench.cold_start import first_request
    from bench.connector import REST_CONNECTOR_ID, rest_secret_arn

    event, aws = first_request("rest-command", rest_cloud_url="http://127.0.0.1:8123")

    assert event["header"]["auth"]["secretsManager"]["arn"] == rest_secret_arn()
    assert set(aws["secrets"]) == {rest_secret_arn()}
    (profile,) = (json.loads(text) for text in aws["parameters"].values())
    assert profile["outbound"]["baseUrl"] == "http://127.0.0.1:8123"
    assert event["payload"]["connectorId"] == REST_CONNECTOR_ID
    with pytest.raises(ValueError, match="REST device cloud"):
        first_request("rest-command")


def test_the_device_cloud_s_request_counts_as_one_more_call_in_a_row() -> None:
    from bench.cold_start import phases_of

    result = {"init_cpu_s": 0.3, "invoke_cpu_s": 0.02, "init_wall_s": 0.4, "invoke_wall_s": 0.05}
    assert phases_of({**result, "calls_in_a_row": 4, "device_cloud_calls": 1}).calls_in_a_row == 5
    assert phases_of({**result, "calls_in_a_row": 4}).calls_in_a_row == 4
