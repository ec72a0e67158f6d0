"""The one way the local tools, benchmarks and tests make an AWS client: fake credentials, a local
endpoint, and the project's own service models (botocore no longer ships iotevents-data)."""

from __future__ import annotations

import os
from typing import Any

from iotbridge.clients import new_session

from .lambda_runtime import LOCAL_REGION

# Credentials no account accepts: the local servers check none, and a request cannot reach AWS signed.
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret


def local_credentials_env() -> dict[str, str]:
    """Fake credentials and no shared config, so nothing can sign a request for a real account."""
    return {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def local_client(service: str, endpoint: str | None, *, attempts: int = 3, **config: Any) -> Any:
    """A botocore client of `service` aimed at `endpoint`, with fake credentials.

    `attempts` counts every try (1: no retry). Other keyword arguments go to botocore's Config, e.g.
    parameter_validation=False to send what botocore itself would refuse, or max_pool_connections.
    """
    from botocore.config import Config

    settings = {"retries": {"mode": "standard", "total_max_attempts": attempts}, **config}
    return new_session().create_client(
        service,
        region_name=LOCAL_REGION,
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        config=Config(**settings),
    )
