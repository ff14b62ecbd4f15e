"""Admin: datasets (build a release), releases (publish, withdraw; statistics read-only), import uploads."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from moderation_data.models import Dataset, ImportProblem, ImportRun, Release
from moderation_data.releases import ReleaseError
from moderation_data.services import publish_release, request_import, start_release, withdraw_release


def _pretty(value) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


def request_build(dataset: Dataset) -> Release:
    """Create a release in ``building`` state and build it on a worker (after commit)."""
    from moderation_data.tasks import build_release_task

    with transaction.atomic():
        release = start_release(dataset)
        transaction.on_commit(lambda: build_release_task.delay(release.pk, publish=False))
    return release


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "level", "sensitivity", "k_anonymity", "is_active"]
    list_filter = ["level", "sensitivity", "is_active"]
    search_fields = ["slug", "title"]
    change_form_template = "admin/moderation_data/dataset/change_form.html"
    actions = ["build_release_action"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj else []

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

    @admin.action(description="Build a new release (on a worker)")
    def build_release_action(self, request, queryset):
        for dataset in queryset.filter(level=Dataset.Level.ROW):
            release = request_build(dataset)
            self.message_user(request, f"Building {dataset.slug} {release.version}.")


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["dataset", "version", "status", "row_count", "period_start", "period_end", "published_at"]
    list_filter = ["dataset", "status"]
    search_fields = ["version"]
    change_form_template = "admin/moderation_data/release/change_form.html"
    actions = ["publish_action", "withdraw_action"]
    fields = [
        "dataset", "version", "status", "period_start", "period_end", "row_count", "sha256", "rows_table",
        "k_anonymity", "anonymization_statistics", "control_totals_table", "codebook_version",
        "pseudonym_key_version", "build_seconds", "error", "created_at", "published_at", "withdrawn_at",
        "withdrawn_reason",
    ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request) -> bool:
        return False  # releases are built from a dataset ("Build a new release")

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is not None and obj.status in (Release.Status.FAILED, Release.Status.BUILDING)

    @admin.display(description="anonymization statistics")
    def anonymization_statistics(self, obj: Release) -> str:
        return _pretty(obj.anonymization)

    @admin.display(description="control totals (month, policy, decisions)")
    def control_totals_table(self, obj: Release) -> str:
        return _pretty(obj.control_totals)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/publish/", view(self.publish_view), name="moderation_data_release_publish"),
            path("<int:pk>/withdraw/", view(self.withdraw_view), name="moderation_data_release_withdraw"),
            *super().get_urls(),
        ]

    def _act(self, request: HttpRequest, pk: int, action) -> HttpResponseRedirect:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        release = get_object_or_404(Release, pk=pk)
        try:
            release = action(release)
        except ReleaseError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Release {release} is {release.get_status_display().lower()}.")
        return HttpResponseRedirect(reverse("admin:moderation_data_release_change", args=[pk]))

    def publish_view(self, request: HttpRequest, pk: int):
        return self._act(request, pk, publish_release)

    def withdraw_view(self, request: HttpRequest, pk: int):
        reason = request.POST.get("reason", "") if request.method == "POST" else ""
        return self._act(request, pk, lambda release: withdraw_release(release, reason=reason))

    @admin.action(description="Publish the selected built releases")
    def publish_action(self, request, queryset):
        for release in queryset:
            try:
                publish_release(release)
            except ReleaseError as exc:
                self.message_user(request, str(exc), messages.ERROR)

    @admin.action(description="Withdraw the selected published releases")
    def withdraw_action(self, request, queryset):
        for release in queryset:
            try:
                withdraw_release(release, reason=f"withdrawn by {request.user}")
            except ReleaseError as exc:
                self.message_user(request, str(exc), messages.ERROR)


class ImportProblemInline(admin.TabularInline):
    model = ImportProblem
    fields = ["line", "field", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ImportUploadForm(forms.ModelForm):
    class Meta:
        model = ImportRun
        fields = ["file", "format", "strict"]

    def clean_file(self):
        if not self.cleaned_data.get("file"):
            raise forms.ValidationError("Choose a file to import.")
        return self.cleaned_data["file"]


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "format", "strict", "status", "rows_read", "rows_imported",
                    "rows_updated", "rows_rejected"]  # fmt: skip
    list_filter = ["status", "format"]
    inlines = [ImportProblemInline]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ImportUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["file", "format", "strict"]
        return [
            "file", "source_path", "format", "strict", "status", "rows_read", "rows_imported", "rows_updated",
            "rows_unchanged", "rows_rejected", "error", "uploaded_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        run = request_import(
            file=form.cleaned_data["file"], format=form.cleaned_data["format"],
            strict=form.cleaned_data["strict"], uploaded_by=request.user,
        )  # fmt: skip
        obj.pk = run.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


from moderation_data import export_admin  # noqa: E402,F401  (registers the exports admin)
