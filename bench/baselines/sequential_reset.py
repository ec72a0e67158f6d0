"""Detector reset as AWS's documentation shows the calls: a benchmark baseline, never deployed.

List the detectors of the model (ListDetectors, following nextToken), then send them to the target state
with BatchUpdateDetector, one batch after another, on one thread. boto3 no longer ships the
`iotevents-data` client, so the project's model is found through AWS_DATA_PATH, as a user would do.
"""

from typing import Any

import boto3


def reset_all(
    model: str, state_name: str, variables: list[dict[str, str]], *, endpoint_url: str, batch_size: int = 10
) -> int:
    """Reset every detector of `model`; returns how many the service accepted."""
    client: Any = boto3.client("iotevents-data", endpoint_url=endpoint_url)
    keys: list[str] = []
    token = None
    while True:
        page = client.list_detectors(
            detectorModelName=model, maxResults=250, **({"nextToken": token} if token else {})
        )
        keys += [summary["keyValue"] for summary in page["detectorSummaries"]]
        token = page.get("nextToken")
        if not token:
            break
    reset = 0
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        answer = client.batch_update_detector(
            detectors=[
                {
                    "messageId": str(start + n),
                    "detectorModelName": model,
                    "keyValue": key,
                    "state": {"stateName": state_name, "variables": variables, "timers": []},
                }
                for n, key in enumerate(batch)
            ]
        )
        reset += len(batch) - len(answer.get("batchUpdateDetectorErrorEntries", []))
    return reset
