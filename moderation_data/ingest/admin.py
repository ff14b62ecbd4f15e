"""Admin of the raw tier: import uploads (run on a worker) and their per-line reports."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from moderation_data.ingest.models import ImportProblem, ImportRun
from moderation_data.ingest.services import request_import


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
