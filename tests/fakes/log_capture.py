"""Everything the code under test logs or prints, captured: the Powertools JSON streams, every log record
on the given loggers (extra fields and exceptions included) and stdout/stderr."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The message, its arguments, every extra field and any exception, however a formatter renders them.
        exception = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.lines.append(f"{record.getMessage()} {record.__dict__!r} {exception}")


@dataclass
class Logs:
    streams: list[io.StringIO]
    recorder: _Recorder
    capfd: pytest.CaptureFixture[str]
    sensitive: Sequence[str]
    extra: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self.seen += [out, err]
        return "\n".join(
            [*(s.getvalue() for s in self.streams), *self.recorder.lines, *self.seen, *self.extra]
        )

    def add(self, *texts: str) -> None:
        """What else an operator sees: a command's output, the error text Lambda logs for a failed run."""
        self.extra.extend(texts)

    def assert_nothing_sensitive(self) -> str:
        text = self.text()
        assert text.strip(), "nothing was logged: the capture is not working"
        leaked = [value for value in self.sensitive if value in text]
        assert leaked == [], f"sensitive values in the logs: {leaked}"
        return text

    def structured(self) -> list[dict[str, Any]]:
        """The Powertools JSON lines, parsed."""
        return [
            json.loads(line)
            for stream in self.streams
            for line in stream.getvalue().splitlines()
            if line.strip()
        ]


@contextmanager
def captured_logs(
    capfd: pytest.CaptureFixture[str], powertools_loggers: Iterable[Any], sensitive: Sequence[str]
) -> Iterator[Logs]:
    """Capture the given Powertools loggers at DEBUG (their JSON streams and records) and the root logger."""
    recorder = _Recorder()
    powertools = list(powertools_loggers)
    loggers = [logging.getLogger(), *(logging.getLogger(p.name) for p in powertools)]
    streams: list[io.StringIO] = []
    previous: list[tuple[logging.StreamHandler[Any], Any, Any, Any]] = []
    for each in powertools:
        handler = each.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        stream = io.StringIO()
        previous.append((handler, handler.setStream(stream), each, each.log_level))
        each.setLevel("DEBUG")
        streams.append(stream)
    for each in loggers:
        each.addHandler(recorder)
    try:
        yield Logs(streams, recorder, capfd, sensitive)
    finally:
        for each in loggers:
            each.removeHandler(recorder)
        for handler, stream, owner, level in previous:
            handler.setStream(stream)
            owner.setLevel(level)
