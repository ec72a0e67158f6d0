"""The cold-start floor: boto3 and one client made at init, and a handler that does nothing."""

import boto3

sqs = boto3.client("sqs")


def lambda_handler(event: object, context: object) -> dict[str, object]:
    return {}
