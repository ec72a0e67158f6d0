"""The Matter catalogue as text for a reader writing a profile (`python -m iotbridge catalogue [NAME]`): every
cluster and device type; a cluster's attributes, commands and events with their fields; a device type's
required clusters. The names printed are the ones a profile writes (`DoorLock.LockOperation`)."""

from __future__ import annotations

from collections.abc import Sequence

from . import (
    CLUSTERS,
    DEVICE_TYPES,
    AttributeSpec,
    CatalogueError,
    ClusterSpec,
    DeviceTypeSpec,
    FieldSpec,
    _close,
    command_hex,
    event_hex,
)


def listing(name: str | None = None) -> str:
    """The whole catalogue in brief, or everything about the cluster and/or device type called `name` (a
    name may be both: DoorLock). Raises CatalogueError naming close names for a name it does not hold."""
    if name is None:
        return overview()
    parts = []
    if name in CLUSTERS:
        parts.append(cluster_listing(CLUSTERS[name]))
    if name in DEVICE_TYPES:
        parts.append(device_type_listing(DEVICE_TYPES[name]))
    if not parts:
        close = _close(name, [*CLUSTERS, *DEVICE_TYPES])
        hint = f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
        raise CatalogueError(
            f'no cluster or device type is called "{name}"{hint}; without a name, every one is listed'
        )
    return "\n\n".join(parts)


def overview() -> str:
    clusters = [(spec.hex_id, spec.name) for spec in sorted(CLUSTERS.values(), key=lambda c: c.id)]
    device_types = [
        (spec.hex_id, spec.name, ", ".join(spec.required_clusters) or "-")
        for spec in sorted(DEVICE_TYPES.values(), key=lambda d: d.id)
    ]
    return "\n".join(
        [
            f"Clusters ({len(clusters)})",
            *_table(clusters),
            "",
            f"Device types ({len(device_types)}), with the clusters each requires",
            *_table(device_types),
        ]
    )


def cluster_listing(spec: ClusterSpec) -> str:
    lines = [f"Cluster {spec.name} {spec.hex_id}, revision {spec.revision}", ""]
    lines.append("Attributes" if spec.attributes else "Attributes: none catalogued")
    if spec.attributes:
        header = ("id", "name", "type", "range", "unit", "")
        lines.extend(_table([header, *(_attribute_row(a) for a in spec.attributes.values())]))
    lines.append("")
    lines.append("Commands (their fields are not catalogued)" if spec.commands else "Commands: none")
    lines.extend(_table([(command_hex(number), name) for name, number in spec.commands.items()]))
    lines.append("")
    lines.append("Events" if spec.events else "Events: none")
    for name, number in spec.events.items():
        fields = spec.event_fields.get(name, {})
        lines.append(f"  {event_hex(number)}  {name}" + ("" if fields else " (no fields catalogued)"))
        lines.extend(_table([_field_row(field) for field in fields.values()], indent="        "))
    return "\n".join(line.rstrip() for line in lines).rstrip()


def device_type_listing(spec: DeviceTypeSpec) -> str:
    lines = [f"Device type {spec.name} {spec.hex_id}, revision {spec.revision}"]
    if not spec.required_clusters:
        lines.append("Requires no server cluster (beyond those every endpoint has)")
        return "\n".join(lines)
    lines.append("Requires the clusters")
    lines.extend(_table([(CLUSTERS[name].hex_id, name) for name in spec.required_clusters]))
    return "\n".join(lines)


def _range(spec: AttributeSpec | FieldSpec) -> str:
    bounds = spec.bounds
    return "-" if bounds is None else f"{bounds[0]}..{bounds[1]}"


def _qualities(mandatory: bool, nullable: bool) -> str:
    return ", ".join(word for word, holds in (("mandatory", mandatory), ("nullable", nullable)) if holds)


def _attribute_row(spec: AttributeSpec) -> tuple[str, ...]:
    return (
        spec.hex_id,
        spec.name,
        spec.type,
        _range(spec),
        spec.unit,
        _qualities(spec.mandatory, spec.nullable),
    )


def _field_row(spec: FieldSpec) -> tuple[str, ...]:
    # An enum's values last: the longest cell, it pads nothing after it.
    values = ", ".join(f"{number} {name}" for number, name in spec.values)
    return (
        spec.hex_id,
        spec.name,
        spec.type,
        _qualities(spec.mandatory, spec.nullable),
        values or _range(spec),
    )


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Rows as left-aligned columns."""
    if not rows:
        return []
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        (indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]
