"""The one AWS client factory: same retries, timeouts, endpoint overrides and service models everywhere."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from .settings import settings

# Service models the bridge brings itself: AWS IoT Events Data is no longer shipped by botocore >= 1.43.38.
SERVICE_MODELS_DIR = Path(__file__).parent / "service_models"

_lock = threading.Lock()
_session: Any = None
_clients: dict[tuple[str, int], Any] = {}


def botocore_session() -> Any:
    """The process's one botocore session, with the bridge's service models first on its search path."""
    global _session  # noqa: PLW0603 - one session per process, created on first use
    if _session is None:
        # botocore alone: the bridge makes only low-level clients, so importing boto3 (with s3transfer)
        # would only lengthen every cold start.
        import botocore.session

        session = botocore.session.Session()
        loader = session.get_component("data_loader")
        # First on the search path, so the model the project tested against is the one used.
        if str(SERVICE_MODELS_DIR) not in loader.search_paths:
            loader.search_paths.insert(0, str(SERVICE_MODELS_DIR))
        _session = session
    return _session


def endpoint_override(service: str) -> str | None:
    """An endpoint set for this service by environment, e.g. AWS_ENDPOINT_URL_IOTEVENTS_DATA.

    The variable name is the boto3 client name upper-cased with '-' as '_'. botocore's own per-service
    variables (named from the service id, e.g. AWS_ENDPOINT_URL_IOT_EVENTS_DATA) and AWS_ENDPOINT_URL are
    still honoured by botocore when this one is unset.
    """
    return os.environ.get("AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")) or None


def client(service: str, *, max_attempts: int | None = None) -> Any:
    """A botocore client for `service`, created once per process and shared (clients are thread-safe).

    `max_attempts` is the number of tries in all, the first included (1 means no retry).
    """
    attempts = max_attempts if max_attempts is not None else 3
    key = (service, attempts)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            from botocore.config import Config

            cfg = settings()
            config = Config(
                # total_max_attempts counts the first try; botocore's "max_attempts" key counts only retries.
                retries={"mode": "standard", "total_max_attempts": attempts},
                connect_timeout=cfg.connect_timeout_seconds,
                read_timeout=cfg.read_timeout_seconds,
                max_pool_connections=max(10, cfg.reset_workers * 2),
            )
            found = botocore_session().create_client(
                service, config=config, endpoint_url=endpoint_override(service)
            )
            _clients[key] = found
    return found


def reset_clients() -> None:
    """Forget every client and the session (tests that change endpoints or credentials call this)."""
    global _session  # noqa: PLW0603
    with _lock:
        _clients.clear()
        _session = None
