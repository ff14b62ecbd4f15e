"""The dataset catalog: what researchers can be granted (shared with vetting) and who may see what."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

# The two datasets every deployment has (created by a data migration); their slugs are named once, here.
ROW_LEVEL_SLUG = "moderation-decisions"
SUMMARY_SLUG = "enforcement-summary"
SCOPE_PREFIX = "dataset:"


class DatasetQuerySet(models.QuerySet):
    def active(self) -> DatasetQuerySet:
        return self.filter(is_active=True)

    def visible_to(self, grant) -> DatasetQuerySet:
        """The datasets a grant may read: those it was granted that are still active (else none)."""
        if grant is None:
            return self.none()
        return self.active().filter(grants=grant).order_by("slug")


class Dataset(models.Model):
    """A catalog entry researchers can be granted (``dataset:<slug>`` scope)."""

    class Sensitivity(models.TextChoices):
        PUBLIC = "public", "Public (no vetting needed)"
        RESTRICTED = "restricted", "Restricted (vetted researchers)"

    class Level(models.TextChoices):
        ROW = "row", "Row level"
        AGGREGATE = "aggregate", "Aggregate"

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    sensitivity = models.CharField(max_length=16, choices=Sensitivity.choices, default=Sensitivity.RESTRICTED)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.ROW)
    k_anonymity = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(2)], help_text="k for the k-anonymity of its releases"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def scope(self) -> str:
        """The OAuth scope that reads this dataset."""
        return scope_for(self.slug)


def scope_for(slug: str) -> str:
    """``dataset:<slug>``: the one place the scope string of a dataset is spelled."""
    return f"{SCOPE_PREFIX}{slug}"
