"""The profile as a whole: the document's version, verification, deduplication, rules and device cloud,
parsed from JSON with every problem listed by its path."""

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from iotbridge.errors import InvalidInputError, Problem
from iotbridge.wire import CamelModel, problems_of

from .bodies import BodyFormat
from .device_cloud import DeviceCloud, SecretName
from .expressions import ExpressionText, _expression
from .handshakes import Handshakes
from .limits import ConnectorLimits
from .outbound import AUTH_TYPES, GeneralAuthorizationScope, Outbound
from .rules import Rule
from .verification import SCHEME_NAMES, Deduplication, SourceAddresses, Verification

PROFILE_VERSION = 1
# Where the functions read profiles unless told otherwise (SSM parameter `<prefix><connector id>`).
DEFAULT_PROFILE_PREFIX = "/iot-bridge/profiles/"
MAX_RULES = 50


class ProfileError(InvalidInputError):
    """A connector profile that cannot be used; every problem is listed by its path in the document."""

    subject = "connector profile"
    whole = "(profile)"


class ConnectorProfile(CamelModel):
    version: Literal[1]
    description: Annotated[str, Field(max_length=512)] = ""
    verification: Verification
    # The Secrets Manager secret with the verification's secret(s); default: the connector's signing secret.
    secret: SecretName | None = None
    deduplication: Deduplication | None = None
    # Where requests may come from (CIDR blocks, at most 64): a request from elsewhere gets the single 401,
    # before its signature is looked at. None: from anywhere.
    source_addresses: SourceAddresses | None = None
    # Where the native events are: a list, or one object (the default: the whole body is one event).
    events: ExpressionText = Field(default_factory=lambda: _expression("body"))
    rules: Annotated[list[Rule], Field(min_length=1, max_length=MAX_RULES)]
    # A native event no rule matches: acknowledged and counted ("ignore"), or refused with a 422 ("reject").
    unmatched: Literal["ignore", "reject"] = "reject"
    # A native event with a problem (a missing required value, one out of range, a failed transform, a mapped
    # event that breaks the contract): refuses the whole webhook with a 422 ("reject"), or is left out,
    # reported in the 202 and counted, while the other events are queued ("skip"). A rule may say otherwise.
    on_error: Literal["reject", "skip"] = "reject"
    # MatterEndpoint.clusters[].attributes as an object keyed by attribute id (what AWS's API reference and
    # SDK examples show), or as a list of one-key objects (what one devguide sample shows).
    attribute_form: Literal["object", "list"] = "object"
    # Where the connector function sends the connector's requests (the relay itself does not use it).
    device_cloud: DeviceCloud | None = None
    # Where the connector function calls the device cloud's own REST API (instead of `deviceCloud`).
    outbound: Outbound | None = None
    # The secrets a General Authorization may name (ARN patterns); None: the stack's own prefix only.
    general_authorization: GeneralAuthorizationScope | None = None
    # How the body reads (JSON or a form, members to decode first); None: JSON as it is.
    body: BodyFormat | None = None
    # Requests the device cloud sends to check the endpoint, answered without queuing anything.
    handshakes: Handshakes = []
    # The connector's rate limit (webhooks per second and burst); None: the deployment's default.
    limits: ConnectorLimits | None = None

    @model_validator(mode="after")
    def _dedupe_has_a_source(self) -> "ConnectorProfile":
        names = [rule.name for rule in self.rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique: {', '.join(repeated)}")
        if self.deduplication is None and self.verification.message_id_header is None:
            raise ValueError(
                "the scheme carries no message id: say how deliveries are told apart (deduplication)"
            )
        return self

    @model_validator(mode="after")
    def _one_way_to_the_cloud(self) -> "ConnectorProfile":
        if self.outbound is not None and self.device_cloud is not None:
            raise ValueError("outbound and deviceCloud are two ways to reach the device cloud: use one")
        return self

    @property
    def message_id_header(self) -> str | None:
        """Where the delivery id is, when a header carries it."""
        if self.deduplication is not None:
            return self.deduplication.header
        return self.verification.message_id_header


def parse_profile(data: Any) -> "ConnectorProfile":
    """The profile in `data` (parsed JSON), or ProfileError listing every problem."""
    if not isinstance(data, dict):
        raise ProfileError([Problem("", f"expected a JSON object, got {type(data).__name__}")])
    try:
        return ConnectorProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(problems_of(exc, location=_without_union_tags)) from None
    except RecursionError:
        # A document that reads as JSON but nests deeper than validation can follow: unusable, not a fault.
        raise ProfileError([Problem("", "nested too deep to validate")]) from None


def parse_profile_json(text: str | bytes) -> "ConnectorProfile":
    import json

    def not_json(constant: str) -> None:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        # NaN and the infinities are not JSON, though json.loads reads them: none may reach a scale or bound.
        data = json.loads(text, parse_constant=not_json)
    except (ValueError, RecursionError) as exc:
        raise ProfileError([Problem("", f"not valid JSON ({str(exc)[:120]})")]) from None
    return parse_profile(data)


_UNION_TAGS = frozenset(
    {"str", "list[...]", "function-after[_expression()]"}
    | {"EqualsTransform", "MapTransform", "ScaleTransform", "ClampTransform"}
    | {"ColourTransform", "UnitFromTransform"}
    | {"FromValue", "LiteralValue", "TemplateValue", "LookupValue"}
    | {"DeviceTypeChoice", "literal['percentToLevel','levelToPercent']"}
)


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and (
        part in _UNION_TAGS
        or part.startswith(("function-", "literal[", "list[", "is-instance", "json-or-python"))
    )


def _without_union_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic names the union member it tried in the location: the document's own path leaves it out.
    # A map's keys are the profile's own text, kept whatever they spell ("token", "str"); a scheme's name is
    # a tag only right after `verification` (a member of a scheme may spell one: `token`), an outbound auth's
    # type only right after `auth`.
    def is_tag(index: int, part: int | str) -> bool:
        previous = loc[index - 1] if index else None
        if previous == "map":
            return False
        return (
            _is_union_tag(part)
            or (previous == "verification" and part in SCHEME_NAMES)
            or (previous == "auth" and part in AUTH_TYPES)
        )

    return tuple(part for index, part in enumerate(loc) if not is_tag(index, part))
