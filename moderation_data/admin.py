"""Django's admin autodiscovery entry: each subdomain registers its own admin."""

from moderation_data.aggregates import admin as aggregates_admin  # noqa: F401
from moderation_data.catalog import admin as catalog_admin  # noqa: F401
from moderation_data.exports import admin as exports_admin  # noqa: F401
from moderation_data.ingest import admin as ingest_admin  # noqa: F401
from moderation_data.releases import admin as releases_admin  # noqa: F401
