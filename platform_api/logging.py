"""JSON log lines: one object per line, fields from ``extra`` included, secrets never."""

from __future__ import annotations

import datetime as dt
import json
import logging

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# Defence in depth: whatever a caller passes in ``extra``, these never reach a log line.
_REDACT = {"password", "secret", "client_secret", "token", "access_token", "authorization", "cookie"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            line[key] = "[redacted]" if key.lower() in _REDACT else value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
