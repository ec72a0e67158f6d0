"""A profile's device-cloud URL: https only, and never an internal address in any spelling the resolver
reads as one (iotbridge.profile.device_cloud)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from iotbridge.profile.device_cloud import DeviceCloud

INTERNAL_HOSTS = [
    "169.254.169.254",  # the instance metadata service
    "[fd00:ec2::254]",  # its IPv6 address
    "169.254.170.2",  # the container credentials endpoint
    "127.0.0.1",
    "127.1",  # short dotted form
    "2130706433",  # a whole integer
    "0x7f000001",  # hex
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",
    "0",
    "0.0.0.0",
    "10.0.0.7",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (CGNAT)
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:a9fe:a9fe]",
    "[::7f00:1]",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of the metadata service
    "[2002:a9fe:a9fe::]",  # 6to4 of the metadata service
    "[fd12:3456::1]",  # unique local
    "[fe80::1]",  # link-local
    "[fe80::1%25eth0]",
    "224.0.0.1",  # multicast
    "255.255.255.255",
    "127.0.0.1.",  # a trailing dot
]


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_an_https_url_to_an_internal_address_is_refused(host: str) -> None:
    # GIVEN a device cloud URL naming an internal address literally
    url = f"https://{host}/aws-iot/requests"

    # WHEN the profile is validated THEN it is refused, naming the rule
    with pytest.raises(ValidationError) as raised:
        DeviceCloud.model_validate({"url": url})
    assert "internal address" in str(raised.value)


@pytest.mark.parametrize(
    "host",
    [
        "hooks.lumen-home.example",
        "8.8.8.8",
        "1.1",
        "[2606:4700::1111]",
        "203.0.113.7.example",
        "0x7f.example",
    ],
)
def test_an_https_url_to_a_public_address_or_a_name_is_taken(host: str) -> None:
    # GIVEN a device cloud URL naming a public address or a name (checked when connecting)
    url = f"https://{host}:8443/aws-iot/requests"

    # WHEN the profile is validated THEN it is taken as written
    assert DeviceCloud.model_validate({"url": url}).url == url


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_to_a_loopback_name_with_a_port_stays_valid_for_the_local_stack(host: str) -> None:
    # GIVEN the local stack's URL WHEN validated THEN it is taken (the function refuses it when deployed)
    url = f"http://{host}:8080/aws-iot/requests"
    assert DeviceCloud.model_validate({"url": url}).url == url
