"""The app's API routes (mounted under /api/v1/ by platform_api), each subdomain contributing its own."""

from moderation_data.aggregates.api import urlpatterns as aggregates_urls
from moderation_data.catalog.api import urlpatterns as catalog_urls
from moderation_data.catalog.public import urlpatterns as catalogue_urls
from moderation_data.exports.api import urlpatterns as exports_urls
from moderation_data.query.api import urlpatterns as query_urls
from moderation_data.releases.api import urlpatterns as releases_urls

urlpatterns = [*catalog_urls, *catalogue_urls, *releases_urls, *query_urls, *aggregates_urls, *exports_urls]
