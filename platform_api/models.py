"""The audit log: one hash-chained, append-only access event per data request."""

from __future__ import annotations

from django.db import models


class AccessEventQuerySet(models.QuerySet):
    def of_grant(self, grant) -> AccessEventQuerySet:
        return self.filter(grant=grant)


class AccessEvent(models.Model):
    """Who accessed what, when, with which outcome. Never updated or deleted (database triggers).

    Inserted unsealed; the sealer (platform_api.audit.seal_chain) sets, once, ``hash`` =
    sha256(prev_hash + canonical JSON of the other fields) and ``mac`` = HMAC(AUDIT_CHAIN_KEY, hash):
    changing, inserting or removing an event breaks the chain at that point, which
    ``verify_audit_log`` reports, and without the key nobody can re-seal a rewritten chain.
    """

    occurred_at = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=128)
    grant = models.ForeignKey(
        "researchers.AccessGrant", null=True, blank=True, on_delete=models.PROTECT, related_name="access_events"
    )
    client_id = models.CharField(max_length=100, blank=True, help_text="OAuth client id (public identifier)")
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=300)
    dataset = models.CharField(max_length=64, blank=True)
    release = models.CharField(max_length=64, blank=True)
    query = models.JSONField(default=dict, blank=True)
    rows_returned = models.BigIntegerField(default=0)
    # Bytes of a file actually sent (export downloads; 0 for other requests).
    bytes_returned = models.BigIntegerField(default=0)
    status = models.PositiveSmallIntegerField()
    # The DSC request reference of the grant (docs/dsa-article-40.md); empty for other grants.
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    # Empty until sealed (the only update the database allows: setting them once).
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: not sealed yet
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    mac = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: not sealed yet

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["grant", "occurred_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.method} {self.endpoint} {self.status}"
