"""modresearch: the researcher's Python client for the moderation-data research platform.

>>> from modresearch import Client
>>> c = Client.from_env()                      # MODRESEARCH_URL, _CLIENT_ID, _CLIENT_SECRET or a .env file
>>> df = c.records("moderation-decisions", where={"policy": "violent_extremism"})

Imports neither Django nor any server code; pyarrow and orjson are used when installed.
"""

from modresearch._version import __version__
from modresearch.client import Client, Count, Release
from modresearch.errors import (
    APIError,
    AuthenticationFailed,
    ChecksumMismatch,
    ConfigurationError,
    Conflict,
    ConnectionFailed,
    ExportNotReady,
    Gone,
    GrantInactive,
    InvalidCursor,
    InvalidQuery,
    InvalidRequest,
    ModResearchError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PrivacyBudgetExhausted,
    QuotaExceeded,
    RateLimited,
    ReleaseChanged,
    ScopeMissing,
    ServerError,
    StateMismatch,
    Unavailable,
)
from modresearch.exports import ExportFailed, ExportJob
from modresearch.query import to_query

__all__ = [
    "APIError",
    "AuthenticationFailed",
    "ChecksumMismatch",
    "Client",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "Count",
    "ExportFailed",
    "ExportJob",
    "ExportNotReady",
    "Gone",
    "GrantInactive",
    "InvalidCursor",
    "InvalidQuery",
    "InvalidRequest",
    "ModResearchError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PrivacyBudgetExhausted",
    "QuotaExceeded",
    "RateLimited",
    "Release",
    "ReleaseChanged",
    "ScopeMissing",
    "ServerError",
    "StateMismatch",
    "Unavailable",
    "__version__",
    "to_query",
]
