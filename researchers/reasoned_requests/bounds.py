"""A DSC grant is never wider than its reasoned request (docs/dsa-article-40.md, "Never wider").

One check, called by every path that sets a grant's terms: approving a request, ``update_grant``
(the admin's grant form, ``grant_access``), and the admin forms' own validation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from platform_api.errors import InvalidRequest
from researchers.reasoned_requests.models import ReasonedRequest

# From narrowest to widest: a grant may take the request's modality or a narrower one.
MODALITY_ORDER = ("aggregate", "records", "records_and_exports")


def request_of_grant(grant) -> ReasonedRequest | None:
    """The reasoned request a grant was issued on (None for platform-vetted grants)."""
    if not grant.dsc_reference:
        return None
    return ReasonedRequest.objects.filter(reference=grant.dsc_reference).prefetch_related("datasets").first()


def problems_beyond(
    request: ReasonedRequest,
    *,
    datasets: Iterable | None = None,
    modality: str | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    data_from: dt.date | None = None,
    data_until: dt.date | None = None,
    data_fields: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Every term that would go beyond ``request``, by field name (empty when all are within it).

    ``None`` means "not being set". For the data limits, an empty value would mean "no limit",
    which is wider than any request, so it is refused too.
    """
    ref = request.reference
    problems: dict[str, list[str]] = {}
    if datasets is not None:
        allowed = {d.slug for d in request.datasets.all()}
        extra = sorted({d.slug for d in datasets} - allowed)
        if extra:
            problems["datasets"] = [f"Not in reasoned request {ref}: {', '.join(extra)}."]
    if modality is not None and (
        modality not in MODALITY_ORDER or MODALITY_ORDER.index(modality) > MODALITY_ORDER.index(request.modality)
    ):
        problems["modality"] = [f"Reasoned request {ref} allows at most {request.modality}."]
    if valid_from is not None and valid_from < request.access_from:
        problems["valid_from"] = [f"Reasoned request {ref} gives access from {request.access_from}."]
    if valid_until is not None and valid_until > request.access_until:
        problems["valid_until"] = [f"Reasoned request {ref} gives access until {request.access_until}."]
    if data_from is not None or data_until is not None or data_fields is not None:
        if data_from is None or data_from < request.data_from:
            problems["data_from"] = [f"Reasoned request {ref} covers decisions from {request.data_from}."]
        if data_until is None or data_until > request.data_until:
            problems["data_until"] = [f"Reasoned request {ref} covers decisions until {request.data_until}."]
        if data_fields is not None and request.fields_requested:
            fields = list(data_fields)
            extra = sorted(set(fields) - set(request.fields_requested))
            if not fields or extra:
                problems["data_fields"] = [
                    f"Reasoned request {ref} covers only the fields {', '.join(request.fields_requested)}."
                ]
    return problems


def check_within_request(request: ReasonedRequest, **terms) -> None:
    """Refuse (400 ``invalid_request``, per field) any term wider than the request."""
    problems = problems_beyond(request, **terms)
    if problems:
        raise InvalidRequest(
            f"A grant on reasoned request {request.reference} cannot be wider than the request.", detail=problems
        )


def check_grant_terms(grant, **terms) -> None:
    """For a DSC grant, refuse new terms wider than its request; any other grant passes."""
    request = request_of_grant(grant)
    if request is not None:
        check_within_request(request, **terms)
