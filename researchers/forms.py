"""Portal forms: validation messages appear next to their fields and are tied to them for screen readers."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.urls import NoReverseMatch, reverse

from moderation_data.catalog.models import Dataset
from researchers.models import (
    Modality,
    Organisation,
    ResearchApplication,
    SystemicRisk,
    country_choices,
    today,
    validate_orcid,
)
from researchers.services import APPLICATION_FIELDS

# The URL name of a dataset's human-readable codebook page among the portal's documentation pages.
CODEBOOK_URL_NAME = "docs:codebook"


class AccessibleFormMixin:
    """Links each input to its help text and errors (aria-describedby) and marks invalid ones (aria-invalid)."""

    def full_clean(self) -> None:
        super().full_clean()
        for name, field in self.fields.items():
            bound = self[name]
            described = []
            if field.help_text:
                described.append(f"{bound.auto_id}_helptext")
            if name in self.errors:
                described.append(f"{bound.auto_id}_error")
                field.widget.attrs["aria-invalid"] = "true"
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs.setdefault("aria-describedby", f"{self[name].auto_id}_helptext")


class DatasetsField(forms.ModelMultipleChoiceField):
    """Datasets as checkboxes labelled by their titles."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Dataset) -> str:
        return obj.title


def codebook_url(dataset: Dataset) -> str | None:
    """The portal page documenting a dataset's fields, or None where the docs pages are not installed."""
    try:
        return reverse(CODEBOOK_URL_NAME, args=[dataset.slug])
    except NoReverseMatch:
        return None


class DatasetCheckboxes(forms.CheckboxSelectMultiple):
    """Each dataset's checkbox with its description and a link to its codebook (researchers choose knowingly)."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        dataset = getattr(value, "instance", None)
        option["description"] = dataset.description if dataset else ""
        option["codebook_url"] = codebook_url(dataset) if dataset else None
        option["slug"] = dataset.slug if dataset else ""
        if dataset and option["attrs"].get("id"):
            option["attrs"]["aria-describedby"] = f"{option['attrs']['id']}_description"
        return option


class CountryField(forms.TypedChoiceField):
    """A country chosen by its name (stored as its ISO 3166-1 alpha-2 code)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=[("", "Choose a country"), *country_choices()], **kwargs)
        self.widget.attrs.setdefault("autocomplete", "country")


class LoginForm(AccessibleFormMixin, AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class RegistrationForm(AccessibleFormMixin, forms.Form):
    first_name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    email = forms.EmailField(
        help_text="Your institutional address; it is also your login.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common password, not only digits.",
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    orcid = forms.CharField(
        label="ORCID iD",
        required=False,
        max_length=19,
        validators=[validate_orcid],
        help_text="e.g. 0000-0002-1825-0097",
    )
    organisation_name = forms.CharField(
        label="Research organisation", max_length=200, help_text="Your university or institute (DSA Art. 2 CDSM)."
    )
    organisation_type = forms.ChoiceField(label="Type of organisation", choices=Organisation.Type.choices)
    organisation_country = CountryField(label="Organisation's country")
    affiliation = forms.CharField(required=False, max_length=200, help_text="Department, institute or position.")
    country = CountryField(label="Your country", help_text="Where you work.")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        if get_user_model().objects.filter(username__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists; log in instead.")
        return email

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            user = get_user_model()(
                username=data.get("email", ""),
                email=data.get("email", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            try:
                password_validation.validate_password(data["password1"], user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


def _input_widgets() -> dict:
    date = {"type": "date"}
    return {
        "public_summary": forms.Textarea(attrs={"rows": 4}),
        "research_questions": forms.Textarea(attrs={"rows": 4}),
        "methodology": forms.Textarea(attrs={"rows": 6}),
        "team_members": forms.Textarea(attrs={"rows": 3}),
        "funding_sources": forms.Textarea(attrs={"rows": 3}),
        "conflicts_of_interest": forms.Textarea(attrs={"rows": 3}),
        "data_security_measures": forms.Textarea(attrs={"rows": 5}),
        "ethics_approval_date": forms.DateInput(attrs=date, format="%Y-%m-%d"),
        "start_date": forms.DateInput(attrs=date, format="%Y-%m-%d"),
        "end_date": forms.DateInput(attrs=date, format="%Y-%m-%d"),
        "modality_requested": forms.RadioSelect,
    }


class ApplicationForm(AccessibleFormMixin, forms.ModelForm):
    """The application a researcher completes; ``submitting=True`` adds the checks a submission needs."""

    systemic_risk_areas = forms.MultipleChoiceField(
        label="Systemic-risk areas",
        choices=SystemicRisk.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The DSA Art. 34 risks your research concerns.",
    )
    datasets_requested = DatasetsField(
        label="Datasets requested",
        queryset=Dataset.objects.active(),
        required=False,
        widget=DatasetCheckboxes,
        help_text="Each dataset's codebook lists its fields and values.",
    )

    class Meta:
        model = ResearchApplication
        fields = [*APPLICATION_FIELDS, "datasets_requested"]
        widgets = _input_widgets()
        labels = {
            "public_summary": "Public summary",
            "independence_declaration": "I declare that this research is independent of commercial interests",
            "modality_requested": "Access modality requested",
            "start_date": "Start of the project",
            "end_date": "End of the project",
            "ethics_body": "Ethics body",
            "ethics_reference": "Ethics approval reference",
            "ethics_approval_date": "Date of ethics approval",
        }
        help_texts = {
            "research_questions": "What you want to find out, and why it matters for systemic risks.",
            "data_security_measures": (
                "Where the data will be stored and processed, who has access, how it is protected."
            ),
            "conflicts_of_interest": "Anything a reviewer should know about funding or affiliations.",
        }

    def __init__(self, *args, submitting: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.submitting = submitting
        if self.instance.pk:
            self.initial.setdefault("systemic_risk_areas", self.instance.systemic_risk_areas)
        else:
            self.initial.setdefault("modality_requested", Modality.RECORDS)
        # "Save draft" needs only a title; "Submit" needs what a reviewer needs (the same list the
        # submit service checks). Labels say which fields a submission needs either way.
        for name in ResearchApplication.REQUIRED_TO_SUBMIT:
            self.fields[name].required = submitting
            self.fields[name].required_to_submit = True
        for name in ("systemic_risk_areas", "datasets_requested", "independence_declaration"):
            self.fields[name].required_to_submit = True
        # Pre-selected in the page; a draft posted without it gets the default.
        self.fields["modality_requested"].required = False

    def clean_modality_requested(self) -> str:
        return self.cleaned_data.get("modality_requested") or Modality.RECORDS

    def clean_ethics_approval_date(self):
        value = self.cleaned_data.get("ethics_approval_date")
        if value and value > today():
            raise forms.ValidationError("The approval date cannot be in the future.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("start_date") and data.get("end_date") and data["end_date"] < data["start_date"]:
            self.add_error("end_date", "The end must not be before the start.")
        if self.submitting:
            if not data.get("independence_declaration"):
                self.add_error("independence_declaration", "The independence declaration is required to submit.")
            if not data.get("systemic_risk_areas"):
                self.add_error("systemic_risk_areas", "Choose at least one area to submit.")
            if not data.get("datasets_requested"):
                self.add_error("datasets_requested", "Choose at least one dataset to submit.")
        return data

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in APPLICATION_FIELDS}


class AnswerForm(AccessibleFormMixin, forms.Form):
    answer = forms.CharField(
        label="Your answer to the reviewers",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Edit the application first if the reviewers asked for changes; then answer here.",
    )


class WithdrawForm(AccessibleFormMixin, forms.Form):
    reason = forms.CharField(label="Reason (optional)", required=False, widget=forms.Textarea(attrs={"rows": 3}))
