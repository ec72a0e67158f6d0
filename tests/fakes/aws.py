"""In-memory stand-ins of AWS APIs at the SDK's level: objects with the botocore client methods the
adapters call, answering as the services do (their error objects and per-entry failures included); and
real botocore clients answered in memory (`bridge_local.answered`), for the APIs whose wire format matters.

Told to fail, they answer with error texts that quote the request, as AWS validation messages can, so that
tests can show such texts never reach a log.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError

from bridge_local.answered import answered_client, json_response

# The HTTP status AWS answers each error code with, where the code alone does not say.
STATUS_OF = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


def client_error(
    code: str,
    status: int | None = None,
    message: str | None = None,
    operation: str = "Op",
    *,
    retries: int = 0,
) -> ClientError:
    """A ClientError as botocore raises it for an error response of a JSON API."""
    status = status if status is not None else STATUS_OF.get(code, 400)
    text = message or f"{code} raised by the service"
    return ClientError(
        {
            "Error": {"Code": code, "Message": text},
            "ResponseMetadata": {
                "RequestId": "5f1b0c3e-0000-4000-8000-000000000000",
                "HTTPStatusCode": status,
                "HTTPHeaders": {"x-amzn-errortype": code, "content-type": "application/json"},
                "RetryAttempts": retries,
            },
            "message": text,
        },
        operation,
    )


class InMemorySecretsManager:
    """GetSecretValue over a dict of secret strings; counts calls; raises `failure` when set."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.calls = 0
        self.failure: Exception | None = None

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        if SecretId not in self.secrets:
            raise client_error("ResourceNotFoundException", 400, f"{SecretId} not found", "GetSecretValue")
        return {"Name": SecretId, "SecretString": self.secrets[SecretId]}


class InMemorySsm:
    """GetParameter over a dict of parameter values; counts calls."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters = parameters
        self.calls = 0

    def get_parameter(self, Name: str) -> dict[str, Any]:
        self.calls += 1
        if Name not in self.parameters:
            raise client_error("ParameterNotFound", 400, f"{Name} not found", "GetParameter")
        return {"Parameter": {"Name": Name, "Type": "String", "Value": self.parameters[Name]}}


class InMemorySqs:
    """SendMessageBatch and SendMessage with SQS's limits.

    Faults: `fail_times` fails the first entry of that many batch requests (a per-entry failure, as SQS
    reports it); `failure` = "error" (the call is refused), "throttle" (the call is throttled), "crash"
    (an unforeseen exception), "entries" (every entry fails); `broken` makes SendMessage fail.
    """

    def __init__(self, fail_times: int = 0) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.bodies: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.fail_times = fail_times
        self.failure: str | None = None
        self.broken = False

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        assert sum(len(e["MessageBody"].encode()) for e in Entries) <= 1024 * 1024
        self.requests.append(Entries)
        first = Entries[0]["MessageBody"]
        if self.failure == "error":
            raise client_error(
                "InvalidMessageContents", 400, f"Invalid message body: {first}", "SendMessageBatch"
            )
        if self.failure == "throttle":
            raise client_error("ThrottlingException", 400, "Rate exceeded", "SendMessageBatch")
        if self.failure == "crash":
            raise RuntimeError(f"connection pool broke while sending {first}")
        if self.failure == "entries":
            return {
                "Successful": [],
                "Failed": [
                    {
                        "Id": e["Id"],
                        "Code": "InternalError",
                        "SenderFault": False,
                        "Message": e["MessageBody"],
                    }
                    for e in Entries
                ],
            }
        if self.fail_times:
            self.fail_times -= 1
            ok = Entries[1:]
            failed = [{"Id": Entries[0]["Id"], "Code": "InternalError", "SenderFault": False}]
        else:
            ok, failed = Entries, []
        self.bodies += [e["MessageBody"] for e in ok]
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in ok], "Failed": failed}

    def send_message(self, **params: Any) -> dict[str, Any]:
        if self.broken:
            raise client_error(
                "InvalidMessageContents", 400, f"cannot store {params['MessageBody']}", "SendMessage"
            )
        self.sent.append(params)
        return {"MessageId": f"m-{len(self.sent)}"}


class InMemoryManagedIntegrations:
    """SendConnectorEvent behind a real botocore client: requests are serialised, responses parsed by it.

    Told to fail (`failure` = (code, status)), it answers with the service's error shapes and quotes the
    request's values in the error text.
    """

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.failure: tuple[str, int] | None = None
        self.client = answered_client("iot-managed-integrations", self._answer)

    def _answer(self, request: AWSPreparedRequest, operation: str) -> AWSResponse:
        sent = json.loads(request.body or b"{}")
        if self.failure is None:
            self.accepted.append(sent)
            return json_response(request.url, 202, {"ConnectorId": request.url.rsplit("/", 1)[-1]})
        code, status = self.failure
        payload = {"message": f"1 validation error: value {json.dumps(sent)} is not valid"}
        return json_response(request.url, status, payload, error_code=code)
