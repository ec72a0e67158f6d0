"""`python -m iotbridge replay`'s own parts: the times it takes, the kept records it reads, the keys it lists
for a window, and what it says of each webhook."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from iotbridge.__main__ import main
from iotbridge.errors import Problem
from iotbridge.operations.replay import (
    ArchiveReader,
    Replayed,
    ReplayUsageError,
    parse_time,
    summary,
)
from iotbridge.webhook_receiver.domain.archived import ArchivedWebhook, ArchiveRecordError, archive_key


def test_times_are_iso_8601_or_unix_seconds() -> None:
    assert parse_time("2026-12-06T10:00:00Z", "--since") == 1_796_551_200_000
    assert parse_time("2026-12-06T11:00:00+01:00", "--since") == 1_796_551_200_000
    assert parse_time("2026-12-06T10:00:00", "--since") == 1_796_551_200_000
    assert parse_time("1796551200.5", "--until") == 1_796_551_200_500


def test_a_time_that_is_not_one_names_its_flag() -> None:
    with pytest.raises(ReplayUsageError, match="--until: not a time"):
        parse_time("yesterday", "--until")


def kept(**changes: Any) -> ArchivedWebhook:
    values: dict[str, Any] = {
        "connector_id": "c1",
        "received_at_ms": 1_796_551_200_123,
        "webhook_id": "dlv-1",
        "method": "POST",
        "path": "/connectors/c1/events",
        "query": "",
        "headers": {"content-type": "application/json"},
        "body": b'{"a": 1}',
        "outcome": "refused",
        "problems": (Problem("a", "rule r: must be text"),),
    }
    return ArchivedWebhook(**(values | changes))


def test_a_kept_record_reads_back_as_written() -> None:
    record = kept()

    assert ArchivedWebhook.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"connectorId": 7}, "connectorId"),
        ({"receivedAt": "soon"}, "receivedAt"),
        ({"body": "not base64!"}, "body"),
        ({"headers": {"x": 1}}, "headers"),
    ],
)
def test_a_broken_record_names_its_field(change: dict[str, Any], named: str) -> None:
    document = json.loads(kept().to_json()) | change

    with pytest.raises(ArchiveRecordError, match=named):
        ArchivedWebhook.from_json(json.dumps(document).encode())


class ListingS3:
    """ListObjectsV2 over a few keys, two to a page, as S3 pages (in key order, after StartAfter)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.requests: list[dict[str, Any]] = []

    def list_objects_v2(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start = int(request.get("ContinuationToken", 0))
        found = [
            k for k in self.keys if k.startswith(request["Prefix"]) and k > request.get("StartAfter", "")
        ]
        page = found[start : start + 2]
        more = start + 2 < len(found)
        return {
            "Contents": [{"Key": k} for k in page],
            "IsTruncated": more,
            "NextContinuationToken": str(start + 2),
        }


def test_the_window_lists_the_connectors_keys_in_time_order() -> None:
    day = 86_400_000
    at = [1_796_551_200_000 + offset for offset in (0, 1, day, 2 * day, 3 * day)]
    s3 = ListingS3([archive_key("c1", ms, b"x") for ms in at] + [archive_key("c2", at[2], b"x")])

    listed = list(ArchiveReader(s3, "bucket").keys("c1", at[1], at[3]))

    assert listed == [archive_key("c1", ms, b"x") for ms in at[1:4]]
    assert s3.requests[0]["StartAfter"] == "connectors/c1/2026/12/06/"


def test_each_outcome_is_said_in_one_line_and_summed_up() -> None:
    results = [
        Replayed("k1", "queued", queued=2),
        Replayed("k2", "duplicate"),
        Replayed("k3", "refused", problems=("a: rule r: must be text",)),
    ]

    assert [r.line() for r in results] == [
        "k1  queued 2",
        "k2  duplicate (already queued)",
        "k3  still refused: a: rule r: must be text",
    ]
    assert summary(results, "c1", dry_run=False) == (
        "replay: 3 kept webhooks of c1: 1 duplicate, 1 queued, 1 refused; queued 2 events"
    )
    assert not results[2].settled


def test_the_command_without_a_target_is_a_usage_error() -> None:
    out, err = io.StringIO(), io.StringIO()

    code = main(["replay", "--connector", "c1", "--since", "2026-12-06"], out=out, err=err)

    assert code == 2
    assert err.getvalue().startswith("replay: give --stack, or --bucket, --queue-url")
