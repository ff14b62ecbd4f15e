"""Admin of releases: publish, withdraw; the statistics are read-only."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from moderation_data.releases.models import ProjectKey, Release
from moderation_data.releases.project_keys import shred_project_keys
from moderation_data.releases.services import ReleaseError, publish_release, withdraw_release


def _pretty(value) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["dataset", "version", "status", "row_count", "period_start", "period_end", "published_at"]
    list_filter = ["dataset", "status"]
    search_fields = ["version"]
    change_form_template = "admin/moderation_data/release/change_form.html"
    actions = ["publish_action", "withdraw_action"]
    fields = [
        "dataset", "version", "status", "period_start", "period_end", "row_count", "sha256", "rows_table",
        "k_anonymity", "privacy_report_summary", "privacy_report_table", "anonymization_statistics",
        "control_totals_table", "codebook_version", "pseudonym_key_version", "key_fingerprint", "build_seconds",
        "error", "created_at", "published_at", "withdrawn_at", "withdrawn_reason", "notes", "doi",
    ]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request) -> bool:
        return False  # releases are built from a dataset ("Build a new release")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Only a failed or abandoned build, and only by staff who may delete releases.
        if obj is None or obj.status not in (Release.Status.FAILED, Release.Status.BUILDING):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="privacy checks (docs/privacy.md)")
    def privacy_report_summary(self, obj: Release) -> str:
        report = obj.privacy_report or {}
        if not report:
            return "no privacy report (built before reports, or a summary release)"
        checks = ", ".join(f"{name}: {'pass' if ok else 'FAIL'}" for name, ok in report.get("checks", {}).items())
        return format_html(
            "k (accounts) {} (with earlier releases {}) for k={}; TDB linkage rows under k: {}; "
            "suppressed {} of {} rows ({}%); trajectory unicity {}%<br>{}",
            report.get("k_min_accounts"),
            report.get("k_min_accounts_with_earlier_releases"),
            report.get("k"),
            report.get("tdb_linkage", {}).get("rows_matching_fewer_than_k_raw_decisions"),
            report.get("suppressed_rows"),
            report.get("source_rows"),
            round(100 * report.get("suppressed_share", 0), 2),
            round(100 * report.get("trajectory_unicity", {}).get("share", 0), 2),
            checks,
        )

    @admin.display(description="privacy report")
    def privacy_report_table(self, obj: Release) -> str:
        return _pretty(obj.privacy_report)

    @admin.display(description="anonymization statistics")
    def anonymization_statistics(self, obj: Release) -> str:
        return _pretty(obj.anonymization)

    @admin.display(description="control totals (released decided_on bucket, policy, decisions; from the rows)")
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
        # The publish form carries the release notes and an optional DOI (docs/citation.md).
        notes = request.POST.get("notes", "") if request.method == "POST" else ""
        doi = request.POST.get("doi", "") if request.method == "POST" else ""
        return self._act(request, pk, lambda release: publish_release(release, notes=notes, doi=doi))

    def withdraw_view(self, request: HttpRequest, pk: int):
        reason = request.POST.get("reason", "") if request.method == "POST" else ""
        return self._act(request, pk, lambda release: withdraw_release(release, reason=reason))

    # Bulk actions change state: only staff who may change releases see and run them (Django runs an
    # action without ``permissions`` for anyone who may view the list).
    @admin.action(description="Publish the selected built releases", permissions=["change"])
    def publish_action(self, request, queryset):
        self._bulk(request, queryset, publish_release, "Published")

    @admin.action(description="Withdraw the selected published releases", permissions=["change"])
    def withdraw_action(self, request, queryset):
        self._bulk(request, queryset, lambda r: withdraw_release(r, reason=f"withdrawn by {request.user}"), "Withdrew")

    def _bulk(self, request: HttpRequest, queryset, action, verb: str) -> None:
        done = []
        for release in queryset.order_by("pk"):
            try:
                action(release)
            except ReleaseError as exc:
                self.message_user(request, f"{release}: {exc}", messages.ERROR)
            else:
                done.append(str(release))
        if done:
            self.message_user(request, f"{verb} {len(done)} release(s): {', '.join(done)}.", messages.SUCCESS)


@admin.register(ProjectKey)
class ProjectKeyAdmin(admin.ModelAdmin):
    """Per-project pseudonym keys (docs/pseudonyms.md): never shown, only destroyed (crypto-shredding)."""

    list_display = ["project", "key_version", "generation", "created_at", "destroyed_at"]
    list_filter = ["key_version", ("destroyed_at", admin.EmptyFieldListFilter)]
    search_fields = ["project__title", "project__id"]
    fields = ["project", "key_version", "generation", "created_at", "destroyed_at", "destroyed_reason"]
    actions = ["shred_action"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request) -> bool:
        return False  # made on a project's first data access

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # destroying is the audited action below, which keeps the row as a record

    @admin.action(
        description="Destroy the selected projects' keys (crypto-shred their pseudonyms)", permissions=["change"]
    )
    def shred_action(self, request: HttpRequest, queryset) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied
        projects = {key.project for key in queryset.select_related("project")}
        destroyed = sum(
            shred_project_keys(project, actor=f"admin:{request.user.get_username()}", reason="admin action")
            for project in projects
        )
        self.message_user(
            request,
            f"Destroyed {destroyed} key(s) of {len(projects)} project(s): their pseudonyms can no longer be computed.",
            messages.SUCCESS,
        )
