"""Moderation data: the dataset catalog (shared with vetting), raw tier, releases."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models


class DatasetQuerySet(models.QuerySet):
    def active(self) -> DatasetQuerySet:
        return self.filter(is_active=True)


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
        return f"dataset:{self.slug}"
