"""The catalogue as text (`python -m iotbridge catalogue`): every row of the catalogue is in it, under the
name a profile writes."""

from __future__ import annotations

import pytest

from iotbridge.matter import CLUSTERS, DEVICE_TYPES, CatalogueError, ClusterSpec, DeviceTypeSpec
from iotbridge.matter.listing import listing


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


@pytest.mark.parametrize("spec", CLUSTERS.values(), ids=lambda spec: spec.name)
def test_a_clusters_listing_holds_every_attribute_command_event_and_field(spec: ClusterSpec) -> None:
    text = listing(spec.name)
    lines = rows(text)
    for attribute in spec.attributes.values():
        assert [attribute.hex_id, attribute.name, attribute.type] == next(
            line[:3] for line in lines if line[:2] == [attribute.hex_id, attribute.name]
        )
    for name in spec.commands:
        assert any(line[1:2] == [name] for line in lines), name
    for name, fields in spec.event_fields.items():
        assert any(line[1:2] == [name] for line in lines), name
        for field in fields.values():
            assert any(line[:3] == [field.hex_id, field.name, field.type] for line in lines), field.name


@pytest.mark.parametrize("spec", DEVICE_TYPES.values(), ids=lambda spec: spec.name)
def test_a_device_types_listing_names_each_required_cluster_with_its_id(spec: DeviceTypeSpec) -> None:
    lines = rows(listing(spec.name))
    assert [CLUSTERS[name].hex_id for name in spec.required_clusters] == [
        line[0] for line in lines if len(line) == 2 and line[1] in spec.required_clusters
    ]


def test_an_enum_field_lists_its_values_by_name() -> None:
    text = listing("DoorLock")
    assert (
        "0x0000  AlarmCode  enum8  mandatory  0 LockJammed, 1 LockFactoryReset, 3 LockRadioPowerCycled"
        in text
    )


def test_an_event_whose_fields_are_not_catalogued_says_so() -> None:
    assert "  0x00  WiredFaultChange (no fields catalogued)" in listing("PowerSource").splitlines()


def test_a_cluster_without_commands_or_attributes_says_so() -> None:
    text = listing("ElectricalEnergyMeasurement")
    assert "Attributes: none catalogued" in text and "Commands: none" in text


def test_an_unknown_name_suggests_close_names_whatever_their_case() -> None:
    with pytest.raises(CatalogueError, match=r'"onoff" \(did you mean OnOff\?\)'):
        listing("onoff")
