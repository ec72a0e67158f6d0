"""One AWS call's client-side CPU: botocore with its defaults against the clients the project makes.

A child process makes each client from the functions' botocore session and answers its requests in the
process (bench.answered_aws), then times the calls the receiver makes for every webhook. The clients
differ only in their Config: botocore's defaults, the project's fixed User-Agent (iotbridge.clients), and
that with botocore's parameter check left out, as the receiver's clients have it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from botocore.config import Config

from bench.answered_aws import AnsweredAws
from bench.child import run_child
from bench.layout import base_environment
from bench.measure import alternating, cpu_and_wall_us
from bench.report import Section, markdown_table
from bench.sizing import Findings
from bench.stats import Figure, median
from iotbridge.clients import new_session, user_agent

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/bench-events.fifo"
CONFIGS = {
    "botocore defaults": {},
    "fixed User-Agent": {"user_agent": True},
    "fixed User-Agent, no parameter check": {"user_agent": True, "parameter_validation": False},
}


def _entries(count: int) -> list[dict[str, str]]:
    body = (
        '{"connectorId":"demo-connector","webhookId":"msg_1","index":0,"event":{"Operation":"DEVICE_EVENT"}}'
    )
    return [
        {"Id": str(n), "MessageBody": body, "MessageGroupId": f"g{n}", "MessageDeduplicationId": f"d{n}"}
        for n in range(count)
    ]


ITEM = {
    "id": {"S": "webhook#" + "0" * 64},
    "status": {"S": "IN_PROGRESS"},
    "expiration": {"N": "1790086400"},
    "in_progress_expiration": {"N": "1790000010000"},
    "fingerprint": {"S": "0" * 64},  # the body's keyed digest, which a reused webhook id is checked against
}


def calls(clients: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    one, ten = _entries(1), _entries(10)
    return {
        "SQS SendMessageBatch, 1 entry": lambda: clients["sqs"].send_message_batch(
            QueueUrl=QUEUE_URL, Entries=one
        ),
        "SQS SendMessageBatch, 10 entries": lambda: clients["sqs"].send_message_batch(
            QueueUrl=QUEUE_URL, Entries=ten
        ),
        "DynamoDB PutItem, conditional": lambda: clients["dynamodb"].put_item(
            TableName="bench-dedupe",
            Item=ITEM,
            ConditionExpression="attribute_not_exists(#id) OR #expiration < :now",
            ExpressionAttributeNames={"#id": "id", "#expiration": "expiration"},
            ExpressionAttributeValues={":now": {"N": "1790000000"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
    }


def _cpu_us(calls_by_config: Mapping[str, Callable[[], Any]], name: str) -> float:
    return cpu_and_wall_us(calls_by_config[name])[0]


def measure(args: dict[str, Any]) -> dict[str, Any]:
    """Child: median CPU µs of each call with each client configuration, the configurations taking turns
    call by call so that a change in the machine's load touches them all alike."""
    answers = AnsweredAws(keep=False)
    session = new_session(shipped_only=True)
    count = int(args["calls"])
    by_config: dict[str, dict[str, Callable[[], Any]]] = {}
    for name, options in CONFIGS.items():
        settings: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1}}
        if options.get("user_agent"):
            settings["user_agent"] = user_agent()
        if "parameter_validation" in options:
            settings["parameter_validation"] = options["parameter_validation"]
        made = {
            service: session.create_client(service, region_name="us-east-1", config=Config(**settings))
            for service in ("sqs", "dynamodb")
        }
        for client in made.values():
            answers.attach(client)
        by_config[name] = calls(made)
    cpu_us: dict[str, dict[str, float]] = {name: {} for name in CONFIGS}
    for label in calls({"sqs": None, "dynamodb": None}):
        for name in CONFIGS:
            for _ in range(max(10, count // 10)):
                by_config[name][label]()
        by_name = {name: by_config[name][label] for name in CONFIGS}
        medians = alternating(list(CONFIGS), partial(_cpu_us, by_name), median, turns=count)
        for name, found in medians.items():
            cpu_us[name][label] = found
    return {"cpu_us": cpu_us}


def run(*, smoke: bool, findings: Findings) -> Section:
    section = Section("AWS call, client side")
    result = run_child(
        "bench.sdk_calls:measure", {"calls": 50 if smoke else 600}, code_root=None, env=base_environment()
    )
    cpu: dict[str, dict[str, float]] = result["cpu_us"]
    defaults, fixed, receiver = (cpu[name] for name in CONFIGS)
    for label in defaults:
        section.figures.append(
            Figure(
                f"{label}, client-side CPU, fixed User-Agent",
                fixed[label],
                defaults[label],
                "µs",
                baseline_name="botocore defaults",
            )
        )
        section.figures.append(
            Figure(
                f"{label}, client-side CPU, as the receiver's clients",
                receiver[label],
                defaults[label],
                "µs",
                baseline_name="botocore defaults",
            )
        )
    rows = [[label, *(f"{cpu[name][label]:.0f}" for name in CONFIGS)] for label in defaults]
    section.details.append(
        "Median CPU µs per call, the request answered in the process (serialisation, signing, parsing and "
        "botocore's handlers all run; no network):\n\n" + markdown_table(["call", *CONFIGS], rows)
    )
    return section
