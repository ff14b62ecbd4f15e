"""Staff's side of the DSC route (docs/vetting.md, "Reasoned requests from a DSC").

Recording a request, inviting its researchers, asking for an amendment, recording the DSC's
decision, approving, and the evidence file: every button calls the service a script would.
Registered from ``researchers/admin.py``; this module imports nothing from it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from moderation_data.catalog.models import Dataset
from platform_api.errors import PlatformError
from researchers import evidence
from researchers import services as vetting
from researchers.errors import InvalidTransition
from researchers.forms import CountryField, DatasetsField
from researchers.models import AccessGrant, Modality, Organisation, SystemicRisk, today
from researchers.reasoned_requests import deadlines, services
from researchers.reasoned_requests.bounds import MODALITY_ORDER, problems_beyond
from researchers.reasoned_requests.models import (
    MEMBER_STATE_CHOICES,
    AmendmentRequest,
    DeadlineReminder,
    NamedResearcher,
    ReasonedRequest,
    ReasonedRequestEvent,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _text(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 70})


class FieldListField(forms.CharField):
    """Codebook field names, comma-separated; empty means all fields."""

    def to_python(self, value) -> list[str]:
        return [name.strip() for name in (super().to_python(value) or "").split(",") if name.strip()]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


def parse_researchers(text: str) -> list[dict]:
    """One per line: ``name; e-mail; affiliation; ORCID iD`` (the last two optional); the first is the principal."""
    people = []
    for number, line in enumerate(line for line in text.splitlines() if line.strip()):
        parts = [part.strip() for part in line.split(";")]
        if len(parts) < 2:
            raise forms.ValidationError(f"Line {number + 1}: write name; e-mail (then affiliation; ORCID iD if known).")
        people.append(
            {
                "name": parts[0],
                "email": parts[1],
                "affiliation": parts[2] if len(parts) > 2 else "",
                "orcid": parts[3] if len(parts) > 3 else "",
                "is_principal": number == 0,
            }
        )
    if not people:
        raise forms.ValidationError("Name at least one vetted researcher.")
    return people


# --------------------------------------------------------------------------- forms
class RecordRequestForm(forms.Form):
    reference = forms.CharField(max_length=100, help_text="The DSC's reference of the request.")
    dsc_member_state = forms.ChoiceField(label="DSC member state", choices=MEMBER_STATE_CHOICES)
    dsc_authority = forms.CharField(label="DSC authority", max_length=200, help_text="e.g. Coimisiún na Meán")
    received_at = forms.DateTimeField(
        label="Received at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Local time of the DSC's member state. The 15-day amendment window counts from this day.",
    )
    title = forms.CharField(label="Project title", max_length=300)
    research_purpose = forms.CharField(widget=_text(4))
    systemic_risk_areas = forms.MultipleChoiceField(
        choices=SystemicRisk.choices, widget=forms.CheckboxSelectMultiple, help_text="DSA Art. 34(1)."
    )
    organisation_name = forms.CharField(label="Research organisation", max_length=200)
    organisation_country = CountryField(label="Organisation's country")
    organisation_type = forms.ChoiceField(choices=Organisation.Type.choices, initial=Organisation.Type.UNIVERSITY)
    researchers = forms.CharField(
        label="Vetted researchers",
        widget=_text(4),
        help_text="One per line: name; e-mail; affiliation; ORCID iD (the last two optional). "
        "The first line is the principal researcher, who collects the credentials.",
    )
    datasets = DatasetsField(queryset=Dataset.objects.active(), label="Datasets requested")
    fields_requested = FieldListField(
        required=False, help_text="Codebook field names, comma-separated; leave empty for all fields."
    )
    data_from = forms.DateField(widget=DATE, label="Decisions from")
    data_until = forms.DateField(widget=DATE, label="Decisions until")
    modality = forms.ChoiceField(choices=Modality.choices, widget=forms.RadioSelect)
    access_from = forms.DateField(widget=DATE, label="Access from")
    access_until = forms.DateField(widget=DATE, label="Access until")
    security_requirements = forms.CharField(required=False, widget=_text())
    confidentiality_requirements = forms.CharField(required=False, widget=_text())
    request_document = forms.FileField(required=False, help_text="The request as received (PDF).")

    sections = [
        ("The request", ["reference", "dsc_member_state", "dsc_authority", "received_at", "request_document"]),
        ("Research", ["title", "research_purpose", "systemic_risk_areas"]),
        ("Researchers", ["organisation_name", "organisation_country", "organisation_type", "researchers"]),
        (
            "Data and access requested",
            ["datasets", "fields_requested", "data_from", "data_until", "modality", "access_from", "access_until"],
        ),
        ("Requirements", ["security_requirements", "confidentiality_requirements"]),
    ]

    def clean_researchers(self) -> list[dict]:
        return parse_researchers(self.cleaned_data["researchers"])

    def clean(self):
        data = super().clean()
        received, state = data.get("received_at"), data.get("dsc_member_state")
        if received and state:
            # The form gives a wall-clock time: it is the DSC's, whatever zone the server runs in.
            naive = (
                timezone.make_naive(received, timezone.get_current_timezone())
                if timezone.is_aware(received)
                else received
            )
            data["received_at"] = naive.replace(tzinfo=deadlines.zone_of(state))
        return data


class ApproveRequestForm(forms.Form):
    datasets = DatasetsField(queryset=Dataset.objects.none())
    modality = forms.ChoiceField(choices=Modality.choices)
    valid_from = forms.DateField(widget=DATE)
    valid_until = forms.DateField(widget=DATE)
    data_from = forms.DateField(widget=DATE, label="Decisions from")
    data_until = forms.DateField(widget=DATE, label="Decisions until")
    data_fields = FieldListField(required=False, label="Fields", help_text="Comma-separated; empty for all.")
    reason = forms.CharField(widget=_text(), required=False)

    def __init__(self, *args, reasoned_request: ReasonedRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reasoned_request = reasoned_request
        self.fields["datasets"].queryset = reasoned_request.datasets.all()
        widest = MODALITY_ORDER.index(reasoned_request.modality)
        self.fields["modality"].choices = [
            (v, label) for v, label in Modality.choices if MODALITY_ORDER.index(v) <= widest
        ]

    @classmethod
    def initial_for(cls, request: ReasonedRequest) -> dict:
        return {
            "datasets": list(request.datasets.all()),
            "modality": request.modality,
            "valid_from": max(request.access_from, today()),
            "valid_until": request.access_until,
            "data_from": request.data_from,
            "data_until": request.data_until,
            "data_fields": list(request.fields_requested),
        }

    def clean(self):
        data = super().clean()
        terms = {name: data[name] for name in ("datasets", "modality", "valid_from", "valid_until", "data_from",
                                                "data_until", "data_fields") if name in data}  # fmt: skip
        for field, errors in problems_beyond(self.reasoned_request, **terms).items():
            for error in errors:
                self.add_error(field if field in self.fields else None, error)
        return data


class AmendmentForm(forms.Form):
    ground = forms.ChoiceField(choices=AmendmentRequest.Ground.choices, widget=forms.RadioSelect)
    explanation = forms.CharField(widget=_text(4), help_text="Why the ground applies.")
    alternatives = forms.CharField(
        widget=_text(4), help_text="The alternative means of access or data you propose (DSA Art. 40(6))."
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=AmendmentRequest.Decision.choices, widget=forms.RadioSelect)
    decided_on = forms.DateField(widget=DATE, label="Date of the DSC's decision")
    note = forms.CharField(widget=_text(), required=False)
    datasets = DatasetsField(queryset=Dataset.objects.active(), required=False, help_text="If amended.")
    fields_requested = FieldListField(required=False, help_text="If amended; comma-separated, empty for all.")
    data_from = forms.DateField(widget=DATE, required=False, label="Decisions from")
    data_until = forms.DateField(widget=DATE, required=False, label="Decisions until")
    modality = forms.ChoiceField(choices=Modality.choices, required=False)
    access_from = forms.DateField(widget=DATE, required=False)
    access_until = forms.DateField(widget=DATE, required=False)

    @classmethod
    def initial_for(cls, request: ReasonedRequest) -> dict:
        return {
            "decided_on": today(),
            "datasets": list(request.datasets.all()),
            **{name: getattr(request, name) for name in services.TERM_FIELDS if name != "datasets"},
        }

    def amended_terms(self, request: ReasonedRequest) -> dict | None:
        """The terms that differ from the request's now (only when the DSC amended it)."""
        data = self.cleaned_data
        if data["decision"] != AmendmentRequest.Decision.AMENDED:
            return None
        changed = {}
        if data.get("datasets") and {d.pk for d in data["datasets"]} != {d.pk for d in request.datasets.all()}:
            changed["datasets"] = list(data["datasets"])
        for name in services.TERM_FIELDS:
            if name != "datasets" and data.get(name) not in (None, "") and data[name] != getattr(request, name):
                changed[name] = data[name]
        return changed or None


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=_text(), help_text="What the DSC said.")


class InviteForm(forms.Form):
    resend = forms.BooleanField(
        required=False, help_text="Also send a new link to those invited already (their previous link stops working)."
    )


# --------------------------------------------------------------------------- list filter
class AmendmentWindowFilter(admin.SimpleListFilter):
    title = "amendment window closing"
    parameter_name = "window"

    def lookups(self, request, model_admin):
        return [
            ("2", "within 2 days"),
            ("5", "within 5 days"),
            ("open", "open, awaiting a decision"),
            ("closed", "closed"),
        ]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "closed":
            return queryset.filter(amendment_window_closes_at__lte=now)
        if self.value() == "open":
            return queryset.awaiting_decision().window_open(now)
        if self.value() in ("2", "5"):
            # Days left count each DSC's own calendar days: decided per request, among the few open ones.
            limit = int(self.value())
            open_ = queryset.awaiting_decision().window_open(now)
            return queryset.filter(pk__in=[r.pk for r in open_ if services.days_left(r, now=now) <= limit])
        return queryset


# --------------------------------------------------------------------------- inlines
class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class NamedResearcherInline(_ReadOnlyInline):
    model = NamedResearcher
    fields = ("name", "email", "is_principal", "affiliation", "orcid", "researcher", "invited_at", "accepted_at")
    verbose_name_plural = "Vetted researchers"


class AmendmentRequestInline(_ReadOnlyInline):
    model = AmendmentRequest
    fields = ("requested_at", "requested_by", "ground", "explanation", "alternatives", "decision", "decided_on",
              "decision_note")  # fmt: skip
    verbose_name_plural = "Amendment requests and DSC decisions"


class ReasonedRequestEventInline(_ReadOnlyInline):
    model = ReasonedRequestEvent
    fields = ("at", "kind", "actor", "note")
    verbose_name_plural = "History"


class DeadlineReminderInline(_ReadOnlyInline):
    model = DeadlineReminder
    fields = ("threshold_days", "days_left", "sent_at", "recipients")
    verbose_name_plural = "Deadline reminders sent"


# --------------------------------------------------------------------------- the admin
def evidence_response(request: HttpRequest, *, reasoned_request=None, grant=None) -> HttpResponse:
    """The evidence zip as a download (the same file ``manage.py evidence_file`` writes)."""
    built = evidence.build_evidence_file(reasoned_request=reasoned_request, grant=grant, actor=request.user)
    response = HttpResponse(built.content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{built.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@admin.action(description="Download the evidence file (one at a time)", permissions=["view"])
def download_evidence_file(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    """Admin action for reasoned requests and grants alike."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one for an evidence file.", messages.ERROR)
        return None
    obj = queryset.get()
    if isinstance(obj, AccessGrant):
        reasoned_request, grant = evidence.resolve(str(obj.pk))
        return evidence_response(request, reasoned_request=reasoned_request, grant=grant)
    return evidence_response(request, reasoned_request=obj)


@admin.register(ReasonedRequest)
class ReasonedRequestAdmin(admin.ModelAdmin):
    list_display = ("reference", "dsc_authority", "dsc_member_state", "status", "received_at", "window_closes",
                    "days_left", "grant_link")  # fmt: skip
    list_filter = (AmendmentWindowFilter, "status", "dsc_member_state")
    search_fields = ("reference", "title", "dsc_authority", "researchers__email", "researchers__name")
    date_hierarchy = "received_at"
    list_select_related = ("application__grant",)
    inlines = [NamedResearcherInline, AmendmentRequestInline, DeadlineReminderInline, ReasonedRequestEventInline]
    actions = [download_evidence_file]
    fieldsets = [
        (None, {"fields": ("reference", "status", "dsc_member_state", "dsc_authority", "grant_link")}),
        ("Deadlines", {"fields": ("received_local", "time_zone", "window_closes", "days_left")}),
        ("Research", {"fields": ("title", "research_purpose", "systemic_risk_areas", "organisation")}),
        (
            "Data and access requested",
            {
                "fields": (
                    "datasets",
                    "fields_requested",
                    "data_from",
                    "data_until",
                    "modality",
                    "access_from",
                    "access_until",
                    "security_requirements",
                    "confidentiality_requirements",
                )
            },
        ),
        ("Document", {"fields": ("request_document_name", "request_document_sha256", "recorded_by", "created_at")}),
    ]
    object_actions = {
        "approve": ("Approve and issue the grant", ApproveRequestForm),
        "request-amendment": ("Request an amendment", AmendmentForm),
        "dsc-decision": ("Record the DSC's decision", DecisionForm),
        "invite": ("Send invitations", InviteForm),
        "withdraw": ("Withdrawn by the DSC", ReasonForm),
    }

    def get_readonly_fields(self, request, obj=None):
        # Recorded once through the form of the add page; later changes only through the buttons.
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # ----------------------------------------------------------------- columns
    @admin.display(description="Window closes (DSC's time)", ordering="amendment_window_closes_at")
    def window_closes(self, obj: ReasonedRequest) -> str:
        return f"{obj.amendment_window_closes_at.astimezone(obj.zone):%Y-%m-%d %H:%M %Z}"

    @admin.display(description="Received (DSC's time)", ordering="received_at")
    def received_local(self, obj: ReasonedRequest) -> str:
        return f"{obj.received_at.astimezone(obj.zone):%Y-%m-%d %H:%M %Z}"

    @admin.display(description="Days left")
    def days_left(self, obj: ReasonedRequest) -> str:
        if obj.status != ReasonedRequest.Status.RECEIVED:
            return "—"
        left = services.days_left(obj)
        if left < 0:
            return "closed"
        return "last day" if left == 0 else str(left)

    @admin.display(description="Grant")
    def grant_link(self, obj: ReasonedRequest) -> str:
        grant = obj.grant
        if grant is None:
            return "—"
        url = reverse("admin:researchers_accessgrant_change", args=[grant.pk])
        return format_html('<a href="{}">Grant #{} ({})</a>', url, grant.pk, grant.get_status_display())

    @admin.display(description="Request document")
    def request_document_name(self, obj: ReasonedRequest) -> str:
        return obj.request_document.name.rsplit("/", 1)[-1] if obj.request_document else "—"

    # ----------------------------------------------------------------- pages
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        urls = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(self._action_view(name)),
                name=f"{info[0]}_{info[1]}_{name.replace('-', '_')}",
            )
            for name in self.object_actions
        ]
        urls.append(
            path(
                "<path:object_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name=f"{info[0]}_{info[1]}_evidence",
            )
        )
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "window_open": obj is not None and deadlines.is_open(obj.amendment_window_closes_at, timezone.now()),
        }
        return super().change_view(request, object_id, form_url, context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RecordRequestForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                organisation = vetting.get_or_create_organisation(
                    name=data["organisation_name"], country=data["organisation_country"], type=data["organisation_type"]
                )
                created = services.record_reasoned_request(
                    reference=data["reference"],
                    dsc_member_state=data["dsc_member_state"],
                    dsc_authority=data["dsc_authority"],
                    received_at=data["received_at"],
                    title=data["title"],
                    research_purpose=data["research_purpose"],
                    systemic_risk_areas=data["systemic_risk_areas"],
                    organisation=organisation,
                    datasets=list(data["datasets"]),
                    fields_requested=data["fields_requested"],
                    data_from=data["data_from"],
                    data_until=data["data_until"],
                    modality=data["modality"],
                    access_from=data["access_from"],
                    access_until=data["access_until"],
                    researchers=data["researchers"],
                    security_requirements=data["security_requirements"],
                    confidentiality_requirements=data["confidentiality_requirements"],
                    request_document=data["request_document"],
                    actor=request.user,
                )
            except PlatformError as exc:
                _form_errors(form, exc)
            else:
                self.log_addition(request, created, [{"added": {}}])
                self.message_user(request, _recorded_message(created), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:researchers_reasonedrequest_change", args=[created.pk]))
        return self._form_page(request, form, title="Record a reasoned request", submit="Record the request")

    def _form_page(self, request, form, *, title: str, submit: str, obj=None, intro: str = "") -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "object": obj,
            "form": form,
            "submit_label": submit,
            "intro": intro,
            "sections": [
                (title, [form[name] for name in names])
                for title, names in getattr(form, "sections", [(None, list(form.fields))])
            ],
        }
        return TemplateResponse(request, "admin/researchers/reasonedrequest/form.html", context)

    def _action_view(self, name: str):
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            obj = get_object_or_404(ReasonedRequest, pk=object_id)
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            title, form_class = self.object_actions[name]
            kwargs = {"reasoned_request": obj} if form_class is ApproveRequestForm else {}
            initial = self._initial(name, obj)
            form = form_class(request.POST or None, initial=initial, **kwargs)
            if request.method == "POST" and form.is_valid():
                try:
                    done = self._perform(name, obj, request, form)
                except PlatformError as exc:
                    _form_errors(form, exc)
                else:
                    self.message_user(request, f"{title}: {done}", messages.SUCCESS)
                    if name == "approve":
                        obj.refresh_from_db()
                        return HttpResponseRedirect(
                            reverse("admin:researchers_accessgrant_change", args=[obj.grant.pk])
                        )
                    return HttpResponseRedirect(reverse("admin:researchers_reasonedrequest_change", args=[obj.pk]))
            return self._form_page(request, form, title=f"{title}: {obj.reference}", submit=title, obj=obj,
                                   intro=self._intro(name, obj))  # fmt: skip

        return view

    def _initial(self, name: str, obj: ReasonedRequest) -> dict:
        if name == "approve":
            return ApproveRequestForm.initial_for(obj)
        if name == "dsc-decision":
            return DecisionForm.initial_for(obj)
        return {}

    def _intro(self, name: str, obj: ReasonedRequest) -> str:
        closes = f"{obj.amendment_window_closes_at.astimezone(obj.zone):%Y-%m-%d %H:%M %Z}"
        if name == "request-amendment":
            return (
                f"The amendment window closes at {closes} ({services.days_left(obj)} days left). Ask only if the "
                "platform does not have access to the data, or access would create significant vulnerabilities for "
                "the security of the service or for confidential information (DSA Art. 40(5))."
            )
        if name == "approve":
            return f"The grant can be as wide as the request, never wider. Reasoned request {obj.reference}."
        return ""

    def _perform(self, name: str, obj: ReasonedRequest, request: HttpRequest, form: forms.Form) -> str:
        data = form.cleaned_data
        if name == "approve":
            grant = services.approve_reasoned_request(
                obj,
                reviewer=request.user,
                reason=data["reason"],
                datasets=list(data["datasets"]),
                modality=data["modality"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                data_from=data["data_from"],
                data_until=data["data_until"],
                data_fields=data["data_fields"],
            )
            return f"grant #{grant.pk} issued; the principal researcher collects the credentials in the portal."
        if name == "request-amendment":
            services.request_amendment(
                obj,
                ground=data["ground"],
                explanation=data["explanation"],
                alternatives=data["alternatives"],
                actor=request.user,
            )
            return "recorded; send it to the DSC and record its decision when it arrives."
        if name == "dsc-decision":
            amendment = obj.amendments.filter(decision="").order_by("-requested_at").first()
            if amendment is None:
                raise InvalidTransition(obj.status, "decided by the DSC", what="reasoned request")
            services.record_dsc_decision(
                amendment,
                decision=data["decision"],
                decided_on=data["decided_on"],
                note=data["note"],
                actor=request.user,
                amended_terms=form.amended_terms(obj),
            )
            return "recorded."
        if name == "invite":
            sent = services.invite_researchers(obj, actor=request.user, resend=data["resend"])
            return f"{sent} invitation(s) sent."
        if name == "withdraw":
            services.withdraw_reasoned_request(obj, actor=request.user, reason=data["reason"])
            return "recorded."
        raise ValueError(name)

    def evidence_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = get_object_or_404(ReasonedRequest, pk=object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return evidence_response(request, reasoned_request=obj)


def _recorded_message(request: ReasonedRequest) -> str:
    closes = request.amendment_window_closes_at.astimezone(request.zone)
    invited = request.researchers.filter(invited_at__isnull=False).count()
    return (
        f"Recorded {request.reference}. The amendment window closes at {closes:%Y-%m-%d %H:%M %Z}. "
        f"{invited} invitation(s) sent."
    )


def _form_errors(form: forms.Form, exc: PlatformError) -> None:
    """A service's refusal next to the fields it names, else on top of the form."""
    form.add_error(None, exc.message)
    for field, errors in (exc.detail or {}).items():
        for error in errors if isinstance(errors, list) else [errors]:
            if field in form.fields:
                form.add_error(field, str(error))
