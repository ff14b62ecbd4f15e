"""Reads of the catalog: which datasets a grant may read (the one place that question is answered)."""

from __future__ import annotations

from django.db.models import QuerySet

from moderation_data.catalog.models import Dataset, scope_for
from platform_api.errors import ScopeMissing


def datasets_visible_to(grant) -> QuerySet[Dataset]:
    """The datasets a grant may read, by slug: granted and still active."""
    return Dataset.objects.visible_to(grant)


def get_visible_dataset(grant, slug: str) -> Dataset:
    """One dataset the grant may read; any other (unknown, not granted, inactive) is 403 ``scope_missing``."""
    cached = getattr(grant, "cached_visible_datasets", None)  # read with the token (researchers.authentication)
    dataset = cached.get(slug) if cached is not None else datasets_visible_to(grant).filter(slug=slug).first()
    if dataset is None:
        scope = scope_for(slug)
        raise ScopeMissing(f"This token lacks the scope {scope}.", detail={"required_scope": scope})
    return dataset
