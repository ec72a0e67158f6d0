"""Test-wide set-up: no real AWS account, no tracing daemon, a small Lambda context."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import pytest

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


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_millis: int = 10_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
