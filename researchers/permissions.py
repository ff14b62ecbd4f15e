"""DRF permissions answering the documented error codes: 401 without a grant, 403 scope_missing / permission_denied."""

from __future__ import annotations

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from moderation_data.catalog.models import scope_for
from platform_api.errors import GrantInactive, PermissionDeniedError, ScopeMissing
from researchers.authentication import grant_of
from researchers.models import EXPORTS_SCOPE, Modality


def token_scopes(request: Request) -> set[str]:
    """The scopes of the request's access token (empty when anonymous)."""
    return set((getattr(request.auth, "scope", "") or "").split())


def grant_scopes(grant) -> frozenset[str]:
    """The scopes a grant allows now: as authentication read them (same generation), else from the database."""
    cached = getattr(grant, "cached_scope_names", None)
    return cached if cached is not None else frozenset(grant.scope_names())


class HasActiveGrant(BasePermission):
    """An authenticated research client whose grant has started (authentication already refused inactive ones)."""

    def has_permission(self, request: Request, view) -> bool:
        grant = grant_of(request)
        if grant is None:
            raise NotAuthenticated("Authenticate with a bearer token from /oauth/token/.")
        if not grant.has_started():
            raise GrantInactive(f"The access grant starts on {grant.valid_from}.")
        return True


class HasDatasetScope(HasActiveGrant):
    """The token carries ``dataset:<slug>`` for the view's ``slug`` kwarg, and the grant still covers it."""

    def has_permission(self, request: Request, view) -> bool:
        super().has_permission(request, view)
        slug = view.kwargs.get("slug", "")
        scope = scope_for(slug)
        grant = grant_of(request)
        if scope not in token_scopes(request) or scope not in grant_scopes(grant):
            raise ScopeMissing(f"This token lacks the scope {scope}.", detail={"required_scope": scope})
        return True


class HasExportsScope(HasActiveGrant):
    """The token carries ``exports`` and the grant's modality still allows exports."""

    def has_permission(self, request: Request, view) -> bool:
        super().has_permission(request, view)
        if EXPORTS_SCOPE not in token_scopes(request) or not grant_of(request).allows_exports:
            raise ScopeMissing(f"This token lacks the scope {EXPORTS_SCOPE}.", detail={"required_scope": EXPORTS_SCOPE})
        return True


class HasRecordsAccess(HasActiveGrant):
    """Row-level data: refused to grants limited to aggregate statistics."""

    def has_permission(self, request: Request, view) -> bool:
        super().has_permission(request, view)
        if not grant_of(request).allows_records:
            raise PermissionDeniedError(
                "This grant allows aggregate statistics only.", detail={"modality": grant_of(request).modality}
            )
        return True


# Every modality may ask for differentially private aggregates: they are the whole of the aggregate
# tier, and record grants get them too (docs/aggregates.md, "Who may ask").
AGGREGATE_MODALITIES = frozenset({Modality.AGGREGATE, Modality.RECORDS, Modality.RECORDS_AND_EXPORTS})


class HasAggregateAccess(HasActiveGrant):
    """Differentially private aggregates: grants of the aggregate tier and record grants alike."""

    def has_permission(self, request: Request, view) -> bool:
        super().has_permission(request, view)
        modality = grant_of(request).modality
        if modality not in AGGREGATE_MODALITIES:
            raise PermissionDeniedError(
                "This grant does not allow aggregate statistics.", detail={"modality": modality}
            )
        return True
