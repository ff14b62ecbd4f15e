"""Admin of the catalog: datasets, and the button that builds a new release of one."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from moderation_data.catalog.models import Dataset
from moderation_data.releases.services import request_build


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "level", "sensitivity", "k_anonymity", "is_active"]
    list_filter = ["level", "sensitivity", "is_active"]
    search_fields = ["slug", "title"]
    change_form_template = "admin/moderation_data/dataset/change_form.html"
    actions = ["build_release_action"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []

    def get_actions(self, request):
        # No bulk delete: one click must not drop datasets that grants and applications name
        # (deactivate a dataset instead; an unused one can still be deleted from its page).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and (obj.releases.exists() or obj.grants.exists()):
            return False  # its releases and grants keep it: deactivate it instead
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        return [
            path("<int:pk>/build/", self.admin_site.admin_view(self.build_view), name="moderation_data_dataset_build"),
            *super().get_urls(),
        ]

    def build_view(self, request: HttpRequest, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        dataset = get_object_or_404(Dataset, pk=pk)
        release = request_build(dataset)
        self.message_user(request, f"Building release {release.version} of {dataset.slug} on a worker.")
        return HttpResponseRedirect(reverse("admin:moderation_data_release_change", args=[release.pk]))

    @admin.action(description="Build a new release (on a worker)", permissions=["change"])
    def build_release_action(self, request, queryset):
        for dataset in queryset.filter(level=Dataset.Level.ROW):
            release = request_build(dataset)
            self.message_user(request, f"Building {dataset.slug} {release.version}.")
