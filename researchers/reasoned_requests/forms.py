"""The invited researcher's account form (portal) and the staff forms of the DSC route (admin)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, password_validation

from researchers.forms import AccessibleFormMixin, CountryField
from researchers.models import validate_orcid


class InvitationForm(AccessibleFormMixin, forms.Form):
    """What an invited researcher adds to what the DSC's request already says about them."""

    first_name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
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
    affiliation = forms.CharField(required=False, max_length=200, help_text="Department, institute or position.")
    country = CountryField(label="Your country")

    def __init__(self, *args, email: str, **kwargs) -> None:
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", "The two passwords differ.")
        elif data.get("password1"):
            user = get_user_model()(
                username=self.email,
                email=self.email,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            try:
                password_validation.validate_password(data["password1"], user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
