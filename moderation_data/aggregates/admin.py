"""Admin of the privacy ledger: budgets and caps are editable (through the services), answers and the
public summary are read-only (docs/aggregates.md, "Budgets")."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from moderation_data.aggregates import services
from moderation_data.aggregates.models import AggregateAnswer, ProjectBudget, PublicSummary, ReleaseBudget


@admin.register(ReleaseBudget)
class ReleaseBudgetAdmin(admin.ModelAdmin):
    list_display = ["release", "total_epsilon", "spent_epsilon", "updated_at"]
    list_select_related = ["release__dataset"]
    fields = ["release", "total_epsilon", "spent_epsilon", "updated_at"]
    readonly_fields = ["spent_epsilon", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*self.readonly_fields, "release"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ReleaseBudget, form, change: bool) -> None:
        if change:
            services.set_release_cap(obj, total_epsilon=obj.total_epsilon)
        else:
            cap = services.ensure_release_cap(release=obj.release)
            obj.pk = services.set_release_cap(cap, total_epsilon=obj.total_epsilon).pk

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ProjectBudget)
class ProjectBudgetAdmin(admin.ModelAdmin):
    list_display = ["project", "release", "total_epsilon", "spent_epsilon", "updated_at"]
    list_select_related = ["project", "release__dataset"]
    search_fields = ["project__title"]
    list_filter = ["release"]
    fields = ["project", "release", "total_epsilon", "spent_epsilon", "updated_at"]
    readonly_fields = ["spent_epsilon", "updated_at"]
    raw_id_fields = ["project"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [*self.readonly_fields, "project", "release"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ProjectBudget, form, change: bool) -> None:
        if change:
            services.set_project_budget(obj, total_epsilon=obj.total_epsilon)
        else:
            obj.pk = services.create_project_budget(
                release=obj.release, project_id=obj.project_id, total_epsilon=obj.total_epsilon
            ).pk

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AggregateAnswer)
class AggregateAnswerAdmin(admin.ModelAdmin):
    list_display = ["created_at", "project", "release", "epsilon", "grant"]
    list_select_related = ["project", "release__dataset", "grant"]
    list_filter = ["release"]
    search_fields = ["project__title", "fingerprint"]
    readonly_fields = ["release", "project", "grant", "fingerprint", "request", "epsilon", "answer", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(PublicSummary)
class PublicSummaryAdmin(admin.ModelAdmin):
    list_display = ["release", "source", "epsilon", "contribution_bound", "noise_scale", "created_at"]
    readonly_fields = [
        "release", "source", "epsilon", "contribution_bound", "dimensions", "noise_scale", "ci95_half_width",
        "opendp_version", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
