"""Django's view of the app: every model of the sub-packages, so the app label and migrations stay one.

Each subdomain keeps its own models (``catalog``, ``ingest``, ``releases``, ``exports``, ``aggregates``); import
them from there. This module exists because Django looks for ``<app>.models``.
"""

from moderation_data.aggregates.models import (
    AggregateAnswer,
    AggregationTable,
    ProjectBudget,
    PublicSummary,
    PublicSummaryCell,
    ReleaseBudget,
)
from moderation_data.catalog.models import Dataset
from moderation_data.exports.models import Export, ExportChunk
from moderation_data.ingest.models import Appeal, Decision, ImportProblem, ImportRun, import_storage
from moderation_data.releases.models import AccountPrecision, EnforcementSummaryCell, Release

__all__ = [
    "AccountPrecision",
    "AggregateAnswer",
    "AggregationTable",
    "Appeal",
    "Dataset",
    "Decision",
    "EnforcementSummaryCell",
    "Export",
    "ExportChunk",
    "ImportProblem",
    "ImportRun",
    "ProjectBudget",
    "PublicSummary",
    "PublicSummaryCell",
    "Release",
    "ReleaseBudget",
    "import_storage",
]
