"""Staff review: applications (approve / reject / request information), grants (edit, suspend,
reinstate, revoke). Every button and bulk action calls the same service a script would."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from oauth2_provider import models as oauth_models

from moderation_data.catalog.models import Dataset
from platform_api.errors import PlatformError
from researchers import services
from researchers.forms import DatasetsField
from researchers.models import (
    AccessGrant,
    ApplicationTransition,
    GrantEvent,
    Modality,
    Organisation,
    ResearchApplication,
    Researcher,
    today,
)
from researchers.reasoned_requests.admin import download_evidence_file  # also registers the DSC route's admin
from researchers.reasoned_requests.bounds import problems_beyond, request_of_grant


# --------------------------------------------------------------------------- forms
class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="The researcher reads this in the notification email and the history.",
    )


class OptionalReasonForm(ReasonForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)


class ApproveForm(forms.Form):
    datasets = DatasetsField(queryset=Dataset.objects.all(), help_text="Defaults to what was requested.")
    modality = forms.ChoiceField(choices=Modality.choices)
    valid_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    valid_until = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=False)

    def clean(self):
        data = super().clean()
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] < data["valid_from"]:
            self.add_error("valid_until", "The end date must not be before the start date.")
        return data

    @classmethod
    def initial_for(cls, application: ResearchApplication) -> dict:
        return {
            "datasets": list(application.datasets_requested.all()),
            "modality": application.modality_requested,
            "valid_from": max(application.start_date, today()),
            "valid_until": application.end_date,
        }


def _run_each(
    request: HttpRequest, objects, action: Callable[[object], object], verb: str, modeladmin: admin.ModelAdmin
) -> None:
    """Apply a service to each object; report successes and, per object, every failure."""
    done, failures = 0, []
    for obj in objects:
        try:
            action(obj)
            done += 1
        except PlatformError as exc:
            failures.append(f"{obj} (#{obj.pk}): {exc.message}")
    if done:
        modeladmin.message_user(request, f"{verb} {done} object(s).", messages.SUCCESS)
    for failure in failures:
        modeladmin.message_user(request, f"Not {verb.lower()}: {failure}", messages.ERROR)


class ReviewActionsMixin:
    """Per-object buttons (custom admin views with a reason form) and bulk actions with a reason page."""

    object_actions: dict[str, tuple[str, type[forms.Form]]] = {}

    def get_urls(self):
        urls = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(self._object_action_view(name)),
                name=f"{self.opts.app_label}_{self.opts.model_name}_{name.replace('-', '_')}",
            )
            for name in self.object_actions
        ]
        return urls + super().get_urls()

    def _object_action_view(self, name: str):
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            obj = get_object_or_404(self.model, pk=object_id)
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            title, form_class = self.object_actions[name]
            initial = self.action_initial(name, obj)
            form = form_class(request.POST or None, initial=initial)
            if request.method == "POST" and form.is_valid():
                try:
                    self.perform_action(name, obj, request, form.cleaned_data)
                except PlatformError as exc:
                    form.add_error(None, exc.message)
                    for field, errors in (exc.detail or {}).items():
                        for error in errors if isinstance(errors, list) else [errors]:
                            form.add_error(field if field in form.fields else None, str(error))
                else:
                    self.message_user(request, f"{title}: done for {obj}.", messages.SUCCESS)
                    return HttpResponseRedirect(self.after_action_url(name, obj))
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"{title}: {obj}",
                "object": obj,
                "form": form,
                "submit_label": title,
            }
            return TemplateResponse(request, "admin/researchers/action_form.html", context)

        return view

    def action_initial(self, name: str, obj) -> dict:
        return {}

    def after_action_url(self, name: str, obj) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])

    def _bulk(self, request: HttpRequest, queryset: QuerySet, name: str, form_class: type[forms.Form], verb: str):
        """An action that first asks for a reason, then applies the service to each selected object."""
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                _run_each(
                    request,
                    queryset,
                    lambda obj: self.perform_action(name, obj, request, form.cleaned_data),
                    verb,
                    self,
                )
                return None
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{verb}: {queryset.count()} selected",
            "form": form,
            "queryset": queryset,
            "action": request.POST.get("action"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "submit_label": verb,
        }
        return TemplateResponse(request, "admin/researchers/action_form.html", context)


# --------------------------------------------------------------------------- applications
class ApplicationTransitionInline(admin.TabularInline):
    model = ApplicationTransition
    fields = ("at", "actor", "from_status", "to_status", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "History"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ResearchApplication)
class ResearchApplicationAdmin(ReviewActionsMixin, admin.ModelAdmin):
    list_display = ("title", "principal_researcher", "organisation", "status", "submitted_at", "modality_requested")
    list_filter = ("status", "organisation", "submitted_at")
    search_fields = (
        "title",
        "public_summary",
        "principal_researcher__user__email",
        "principal_researcher__user__last_name",
        "organisation__name",
    )
    date_hierarchy = "submitted_at"
    list_select_related = ("principal_researcher__user", "organisation")
    inlines = [ApplicationTransitionInline]
    actions = ["start_review_selected", "approve_selected", "reject_selected", "request_information_selected"]
    fieldsets = [
        (None, {"fields": ("title", "status", "organisation", "principal_researcher", "team_members")}),
        (
            "Research",
            {"fields": ("public_summary", "research_questions", "methodology", "systemic_risk_area_names")},
        ),
        (
            "Ethics and independence",
            {
                "fields": (
                    "ethics_body",
                    "ethics_reference",
                    "ethics_approval_date",
                    "funding_sources",
                    "independence_declaration",
                    "conflicts_of_interest",
                )
            },
        ),
        (
            "Data requested",
            {
                "fields": (
                    "datasets_requested",
                    "modality_requested",
                    "start_date",
                    "end_date",
                    "data_security_measures",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "submitted_at", "decided_at", "grant_link")}),
    ]
    object_actions = {
        "approve": ("Approve", ApproveForm),
        "reject": ("Reject", ReasonForm),
        "request-information": ("Request information", ReasonForm),
    }

    def get_readonly_fields(self, request, obj=None):
        # Applicants own the content; reviewers change state only through the buttons.
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Systemic-risk areas")
    def systemic_risk_area_names(self, obj: ResearchApplication) -> str:
        return ", ".join(obj.systemic_risk_labels()) or "—"

    @admin.display(description="Grant")
    def grant_link(self, obj: ResearchApplication) -> str:
        grant = getattr(obj, "grant", None)
        if grant is None:
            return "—"
        url = reverse("admin:researchers_accessgrant_change", args=[grant.pk])
        return format_html('<a href="{}">Grant #{} ({})</a>', url, grant.pk, grant.get_status_display())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "decidable": obj is not None and obj.status in obj.DECIDABLE}
        return super().change_view(request, object_id, form_url, extra_context)

    def action_initial(self, name: str, obj: ResearchApplication) -> dict:
        return ApproveForm.initial_for(obj) if name == "approve" else {}

    def after_action_url(self, name: str, obj) -> str:
        obj.refresh_from_db()
        if name == "approve" and hasattr(obj, "grant"):
            return reverse("admin:researchers_accessgrant_change", args=[obj.grant.pk])
        return super().after_action_url(name, obj)

    def perform_action(self, name: str, obj: ResearchApplication, request: HttpRequest, data: dict):
        if name == "approve":
            if "datasets" not in data:  # bulk approval: the terms requested
                return services.approve_application(obj, reviewer=request.user, reason=data.get("reason", ""))
            return services.approve_application(
                obj,
                reviewer=request.user,
                reason=data.get("reason", ""),
                datasets=list(data["datasets"]),
                modality=data["modality"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
            )
        if name == "reject":
            return services.reject_application(obj, reviewer=request.user, reason=data["reason"])
        if name == "request-information":
            return services.request_information(obj, reviewer=request.user, reason=data["reason"])
        raise ValueError(name)

    @admin.action(description="Start reviewing selected applications", permissions=["change"])
    def start_review_selected(self, request, queryset):
        _run_each(request, queryset, lambda obj: services.start_review(obj, reviewer=request.user), "Moved", self)

    @admin.action(description="Approve selected applications (with the terms requested)", permissions=["change"])
    def approve_selected(self, request, queryset):
        return self._bulk(request, queryset, "approve", OptionalReasonForm, "Approved")

    @admin.action(description="Reject selected applications", permissions=["change"])
    def reject_selected(self, request, queryset):
        return self._bulk(request, queryset, "reject", ReasonForm, "Rejected")

    @admin.action(description="Request information on selected applications", permissions=["change"])
    def request_information_selected(self, request, queryset):
        return self._bulk(request, queryset, "request-information", ReasonForm, "Asked for information on")


# --------------------------------------------------------------------------- grants
class GrantEventInline(admin.TabularInline):
    model = GrantEvent
    fields = ("at", "kind", "actor", "from_status", "to_status", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "History"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AccessGrantForm(forms.ModelForm):
    class Meta:
        model = AccessGrant
        fields = (
            "datasets",
            "modality",
            "valid_from",
            "valid_until",
            "requests_per_minute",
            "requests_per_day",
            "records_per_day",
            "concurrent_exports",
            "export_rows_per_month",
            "data_from",
            "data_until",
            "data_fields",
        )
        widgets = {"datasets": forms.CheckboxSelectMultiple}

    def clean(self):
        data = super().clean()
        # A DSC grant's form refuses terms wider than its reasoned request, field by field.
        request = request_of_grant(self.instance) if self.instance.pk else None
        if request is not None:
            terms = {name: data.get(name) for name in ("modality", "valid_from", "valid_until", "data_from",
                                                       "data_until", "data_fields")}  # fmt: skip
            terms["datasets"] = data.get("datasets") or []
            terms["data_fields"] = list(terms["data_fields"] or [])
            for field, errors in problems_beyond(request, **terms).items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
        return data


@admin.register(AccessGrant)
class AccessGrantAdmin(ReviewActionsMixin, admin.ModelAdmin):
    form = AccessGrantForm
    list_display = ("__str__", "status", "modality", "valid_from", "valid_until", "client_id")
    list_filter = ("status", "modality", "valid_until")
    search_fields = (
        "application__title",
        "oauth_client__client_id",
        "application__principal_researcher__user__email",
        "dsc_reference",
    )
    list_select_related = ("application", "oauth_client")
    inlines = [GrantEventInline]
    actions = ["suspend_selected", "reinstate_selected", "revoke_selected", download_evidence_file]
    readonly_fields = ("application_link", "status", "client_id", "secret_issued_at", "created_at", "dsc_reference")
    fieldsets = [
        (
            None,
            {"fields": ("application_link", "dsc_reference", "status", "client_id", "secret_issued_at", "created_at")},
        ),
        ("Terms", {"fields": ("datasets", "modality", "valid_from", "valid_until")}),
        ("Data limits", {"fields": ("data_from", "data_until", "data_fields", "longitudinal_linkage")}),
        (
            "Quotas",
            {
                "fields": (
                    "requests_per_minute",
                    "requests_per_day",
                    "records_per_day",
                    "concurrent_exports",
                    "export_rows_per_month",
                ),
                "description": "Pages count against records per day; exports only against the export allowance "
                "(rows per calendar month, UTC). See docs/quotas.md.",
            },
        ),
    ]
    object_actions = {
        "suspend": ("Suspend", ReasonForm),
        "reinstate": ("Reinstate", OptionalReasonForm),
        "revoke": ("Revoke", ReasonForm),
    }

    def has_add_permission(self, request) -> bool:
        return False  # grants come from approving an application

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the history stays

    @admin.display(description="Client ID")
    def client_id(self, obj: AccessGrant) -> str:
        return obj.oauth_client.client_id

    @admin.display(description="Application")
    def application_link(self, obj: AccessGrant) -> str:
        url = reverse("admin:researchers_researchapplication_change", args=[obj.application_id])
        return format_html('<a href="{}">{}</a>', url, obj.application.title)

    def save_model(self, request, obj: AccessGrant, form, change: bool) -> None:
        data = form.cleaned_data
        try:
            services.update_grant(
                obj,
                actor=request.user,
                datasets=list(data["datasets"]),
                modality=data["modality"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                quotas={name: data[name] for name in services.QUOTA_FIELDS},
                data_limits={name: data[name] for name in services.DATA_LIMIT_FIELDS},
            )
        except PlatformError as exc:
            # Only reachable on a race (the form validated the same terms); say so rather than 500.
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    def save_related(self, request, form, formsets, change) -> None:
        # update_grant already set the datasets (no form.save_m2m()); the read-only history saves nothing.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def perform_action(self, name: str, obj: AccessGrant, request: HttpRequest, data: dict):
        reason = data.get("reason", "")
        if name == "suspend":
            return services.suspend_grant(obj, actor=request.user, reason=reason)
        if name == "reinstate":
            return services.reinstate_grant(obj, actor=request.user, reason=reason)
        if name == "revoke":
            return services.revoke_grant(obj, actor=request.user, reason=reason)
        raise ValueError(name)

    @admin.action(description="Suspend selected grants", permissions=["change"])
    def suspend_selected(self, request, queryset):
        return self._bulk(request, queryset, "suspend", ReasonForm, "Suspended")

    @admin.action(description="Reinstate selected grants", permissions=["change"])
    def reinstate_selected(self, request, queryset):
        return self._bulk(request, queryset, "reinstate", OptionalReasonForm, "Reinstated")

    @admin.action(description="Revoke selected grants", permissions=["change"])
    def revoke_selected(self, request, queryset):
        return self._bulk(request, queryset, "revoke", ReasonForm, "Revoked")


# --------------------------------------------------------------------------- people
@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "type")
    list_filter = ("type", "country")
    search_fields = ("name",)


@admin.register(Researcher)
class ResearcherAdmin(admin.ModelAdmin):
    list_display = ("__str__", "organisation", "country", "orcid", "email_verified_at")
    list_filter = ("country", ("email_verified_at", admin.EmptyFieldListFilter))
    readonly_fields = ("email_verified_at", "verification_sent_at")
    search_fields = ("user__email", "user__last_name", "orcid", "organisation__name")
    list_select_related = ("user", "organisation")
    raw_id_fields = ("user",)


# --------------------------------------------------------------------------- OAuth clients
# A grant's OAuth client changes only through the grant's services (rotation, suspension, ...):
# django-oauth-toolkit's own admin would let staff edit secrets or mint grants beside them; its
# access-token admin would let them point a token (by its editable checksum) at any client, or
# revoke every researcher's tokens in bulk. Suspending or revoking the grant ends its tokens.
for _model in (
    oauth_models.get_application_model(),
    oauth_models.get_access_token_model(),
    oauth_models.get_grant_model(),
    oauth_models.get_refresh_token_model(),
    oauth_models.get_id_token_model(),
):
    with contextlib.suppress(admin.sites.NotRegistered):
        admin.site.unregister(_model)
