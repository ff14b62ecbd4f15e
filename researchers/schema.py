"""OpenAPI: the OAuth2 client-credentials flow behind GrantTokenAuthentication."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
                        "exports": "Create and download bulk exports",
                        "dataset:moderation-decisions": "Read the moderation-decisions dataset",
                        "dataset:enforcement-summary": "Read the enforcement-summary dataset",
                    },
                }
            },
        }

    def get_security_requirement(self, auto_schema):
        return {self.name: []}
