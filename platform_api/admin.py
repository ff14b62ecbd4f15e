"""The audit log in the admin: read-only, filterable by grant, and a check of its hash chain (docs/api.md)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from platform_api.audit import Verification, seal_chain, verify_chain, verify_log
from platform_api.models import AccessEvent

ENDPOINT_SHOWN = 60


class GrantFilter(admin.RelatedOnlyFieldListFilter):
    """Only the grants that appear in the log, by their label ("Grant #3: project")."""

    title = "grant"


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """Read-only: nobody edits or deletes access events through the application."""

    # Few, short columns so the list reads at 1280 px; the full event is one click away.
    list_display = ("id", "when", "grant_short", "request_line", "dataset_release", "status", "rows_returned")
    list_display_links = ("id", "when")
    list_filter = (("grant", GrantFilter), "status", "method", "dataset", "occurred_at")
    search_fields = ("request_id", "client_id", "endpoint", "reference")
    date_hierarchy = "occurred_at"
    list_select_related = ("grant__application",)
    list_per_page = 100
    readonly_fields = [f.name for f in AccessEvent._meta.fields]
    actions = ["verify_chain_action"]
    change_list_template = "admin/platform_api/accessevent/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="when (UTC)", ordering="occurred_at")
    def when(self, obj: AccessEvent) -> str:
        return obj.occurred_at.strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="grant", ordering="grant")
    def grant_short(self, obj: AccessEvent) -> str:
        if obj.grant_id is None:
            return "—"
        url = reverse("admin:researchers_accessgrant_change", args=[obj.grant_id])
        return format_html('<a href="{}" title="{}">#{}</a>', url, obj.grant, obj.grant_id)

    @admin.display(description="request", ordering="endpoint")
    def request_line(self, obj: AccessEvent) -> str:
        endpoint = obj.endpoint.removeprefix("/api/v1")
        shown = endpoint if len(endpoint) <= ENDPOINT_SHOWN else endpoint[: ENDPOINT_SHOWN - 1] + "…"
        return format_html('<span title="{}">{} {}</span>', obj.endpoint, obj.method, shown)

    @admin.display(description="data", ordering="dataset")
    def dataset_release(self, obj: AccessEvent) -> str:
        return " ".join(part for part in (obj.dataset, obj.release) if part) or "—"

    # ---------------------------------------------------------------- verifying the chain
    def _report(self, request: HttpRequest, result: Verification, scope: str) -> None:
        if result.problem:
            self.message_user(
                request, f"The audit log does not match its checkpoints: {result.problem}.", messages.ERROR
            )
            return
        if result.ok:
            self.message_user(
                request, f"The audit chain is intact: {result.checked} events verified ({scope}).", messages.SUCCESS
            )
            return
        broken = result.first_broken
        url = reverse("admin:platform_api_accessevent_change", args=[broken.pk])
        self.message_user(
            request,
            format_html(
                'The audit chain is broken at <a href="{}">event #{}</a> ({} UTC): {}. '
                "The {} events before it verified.",
                url,
                broken.pk,
                broken.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                result.reason,
                result.checked,
            ),
            messages.ERROR,
        )

    @admin.action(description="Verify the audit chain up to the selected events", permissions=["view"])
    def verify_chain_action(self, request: HttpRequest, queryset: QuerySet[AccessEvent]) -> None:
        # A chain is verified from its start: every event up to the last one selected.
        last = max(queryset.values_list("pk", flat=True), default=None)
        if last is None:
            return
        seal_chain()
        events = AccessEvent.objects.filter(pk__lte=last).order_by("id").iterator(chunk_size=5000)
        self._report(request, verify_chain(events), f"from the first event to #{last}")

    def get_urls(self):
        return [
            path(
                "verify-chain/",
                self.admin_site.admin_view(self.verify_whole_chain_view),
                name="platform_api_accessevent_verify_chain",
            ),
            *super().get_urls(),
        ]

    def verify_whole_chain_view(self, request: HttpRequest):
        """The button above the list: verify every event (a POST, like an action)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        self._report(request, verify_log(), "the whole log")
        return HttpResponseRedirect(reverse("admin:platform_api_accessevent_changelist"))


# --------------------------------------------------------------------------- staff second factors
def _register_totp_admin() -> None:
    """django-otp's TOTP device admin, with a device's secret (key, QR code) shown only to its own user.

    Out of the box any staff member who may view devices reads every other staff member's seed (the
    key field, the QR code) and can clone their second factor; and one who may change devices can set
    a known key. Here the key is neither shown nor editable on anyone else's device (nor when adding
    one: a new device gets a random key), and the QR code page answers only the device's user.
    """
    from django.shortcuts import get_object_or_404
    from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
    from django_otp.plugins.otp_totp.models import TOTPDevice

    class OwnSecretTOTPDeviceAdmin(TOTPDeviceAdmin):
        def _own(self, request: HttpRequest, device: TOTPDevice | None) -> bool:
            return device is not None and device.user_id == request.user.pk

        def get_fieldsets(self, request, obj=None):
            fieldsets = super().get_fieldsets(request, obj)
            if self._own(request, obj):
                return fieldsets
            hidden = {"key", "qrcode_link"}
            return [
                (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
                for name, options in fieldsets
                if [f for f in options["fields"] if f not in hidden]
            ]

        def get_list_display(self, request):
            return [name for name in super().get_list_display(request) if name != "qrcode_link"]

        def config_view(self, request, pk):
            if not self._own(request, get_object_or_404(TOTPDevice, pk=pk)):
                raise PermissionDenied
            return super().config_view(request, pk)

        def qrcode_view(self, request, pk):
            if not self._own(request, get_object_or_404(TOTPDevice, pk=pk)):
                raise PermissionDenied
            return super().qrcode_view(request, pk)

    from django_otp.plugins.otp_totp.models import TOTPDevice as _Device

    if admin.site.is_registered(_Device):
        admin.site.unregister(_Device)
    admin.site.register(_Device, OwnSecretTOTPDeviceAdmin)


_register_totp_admin()
