"""Test-wide set-up: no real AWS account, no tracing daemon, a small Lambda context."""

from __future__ import annotations

import os

import pytest

from fakes.lambda_context import FakeLambdaContext

# Set before any handler module is imported: Powertools and botocore read these at import or first use.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "iot-bridge",
    "POWERTOOLS_METRICS_NAMESPACE": "IoTBridge",
    "POWERTOOLS_DEV": "false",
}.items():
    os.environ.setdefault(_name, _value)
# Never reach a real endpoint by accident.
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
