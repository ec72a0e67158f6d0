"""The four SendConnectorEvent operations, and the members each needs beyond AWS's model: one source for
the event models, the contract document, the forwarder's logs and the local tools. No pydantic here, so
that the forwarder can name an operation without loading the event models."""

from __future__ import annotations

from typing import Final, Literal, get_args

ConnectorEventOperation = Literal[
    "DEVICE_COMMAND_RESPONSE", "DEVICE_DISCOVERY", "DEVICE_EVENT", "DEVICE_COMMAND_REQUEST"
]
OPERATIONS: Final[tuple[str, ...]] = get_args(ConnectorEventOperation)

# Members an operation cannot do without, beyond those the AWS model itself requires.
OPERATION_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "DEVICE_DISCOVERY": ("DeviceDiscoveryId", "Devices"),
    "DEVICE_EVENT": ("ConnectorDeviceId", "MatterEndpoint"),
    "DEVICE_COMMAND_RESPONSE": ("TraceId",),
    "DEVICE_COMMAND_REQUEST": (),
}

# The member of an operation that answers a request of managed integrations, by the request's id: the
# discovery job's (AWS.DiscoverDevices) or the command's trace (AWS.SendCommand).
CORRELATED_MEMBER: Final[dict[str, str]] = {
    "DEVICE_DISCOVERY": "DeviceDiscoveryId",
    "DEVICE_COMMAND_RESPONSE": "TraceId",
}
