"""OpenAPI: the OAuth2 client-credentials flow behind GrantTokenAuthentication."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from moderation_data.catalog.models import ROW_LEVEL_SLUG, SUMMARY_SLUG, scope_for
from researchers.models import EXPORTS_SCOPE


class GrantTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "researchers.authentication.GrantTokenAuthentication"
    name = "oauth2ClientCredentials"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": (
                "Client credentials of an access grant (collected once in the researcher portal). "
                "Scopes: `dataset:<slug>` for each granted dataset and `exports` where the grant allows "
                "bulk exports; without `scope` a token gets all of its grant's scopes. Send the token as "
                "`Authorization: Bearer <token>`; tokens in the URL are refused."
            ),
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth/token/",
                    "scopes": {
                        EXPORTS_SCOPE: "Create and download bulk exports",
                        **{scope_for(slug): f"Read the {slug} dataset" for slug in (ROW_LEVEL_SLUG, SUMMARY_SLUG)},
                    },
                }
            },
        }

    def get_security_requirement(self, auto_schema):
        return {self.name: []}
