"""Admin: exports (status, size, owner), read-only, with a cancel action that goes through cancel_export."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from moderation_data.exports.models import Export
from moderation_data.exports.services import cancel_export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "dataset", "format", "status", "size", "row_count", "created_at", "expires_at"]
    list_filter = ["status", "format"]
    search_fields = ["id", "grant__application__title"]
    list_select_related = ["grant__application", "release__dataset"]
    ordering = ["-created_at"]
    actions = ["cancel_selected"]
    readonly_fields = [
        "id", "grant", "release", "format", "query", "fields", "status", "expected_rows", "row_count", "bytes",
        "sha256", "file_name", "manifest", "error", "quota_reserved", "quota_refunded", "attempts", "claimed_by",
        "finalized_by", "heartbeat_at", "created_at", "started_at", "finished_at", "expires_at",
    ]  # fmt: skip
    exclude = ["quota_key"]

    @admin.display(description="owner (grant)")
    def owner(self, obj: Export) -> str:
        return str(obj.grant)

    @admin.display(description="dataset")
    def dataset(self, obj: Export) -> str:
        return f"{obj.release.dataset.slug} {obj.release.version}"

    @admin.display(description="size", ordering="bytes")
    def size(self, obj: Export) -> str:
        return filesizeformat(obj.bytes) if obj.bytes is not None else "—"

    @admin.action(
        description="Cancel selected exports (refunds their quota; deletes ready files)", permissions=["cancel"]
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Export]) -> None:
        cancelled = 0
        for export in queryset:
            if export.status in (*Export.ACTIVE_STATUSES, Export.Status.READY):
                cancel_export(export)
                cancelled += 1
        self.message_user(request, f"Cancelled {cancelled} export(s).", messages.SUCCESS)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        # Export pages are read-only; cancelling is the one change, for staff who may change exports.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
