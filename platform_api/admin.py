from django.contrib import admin

from platform_api.models import AccessEvent


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: nobody edits or deletes access events through the application."""

    list_display = (
        "id",
        "occurred_at",
        "grant",
        "client_id",
        "method",
        "endpoint",
        "dataset",
        "release",
        "status",
        "rows_returned",
        "reference",
    )
    list_filter = ("status", "method", "dataset", "occurred_at")
    search_fields = ("request_id", "client_id", "endpoint", "reference")
    date_hierarchy = "occurred_at"
    list_select_related = ("grant",)
    readonly_fields = [f.name for f in AccessEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
