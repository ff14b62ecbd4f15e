"""The portal page behind an invitation link: an invited researcher creates their account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from platform_api.errors import PlatformError
from platform_api.middleware import set_log_path
from researchers.reasoned_requests import services
from researchers.reasoned_requests.forms import InvitationForm


def _initial(named) -> dict:
    first, _, last = named.name.partition(" ")
    return {
        "first_name": first,
        "last_name": last,
        "orcid": named.orcid,
        "affiliation": named.affiliation,
        "country": named.request.organisation.country,
    }


@never_cache
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    # The link's token never reaches the access log.
    set_log_path(request, "/portal/invitations/<token>/")
    try:
        named = services.invitation_for_token(token)
    except PlatformError:
        return render(request, "portal/invitation_invalid.html", status=400)
    if request.user.is_authenticated:
        messages.error(request, "Log out first: this invitation creates a new account for its addressee.")
        return redirect("portal:home")
    form = InvitationForm(request.POST or None, initial=_initial(named), email=named.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            researcher = services.accept_invitation(
                token=token,
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                country=data["country"],
                orcid=data["orcid"],
                affiliation=data["affiliation"],
            )
        except PlatformError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, researcher.user, backend="platform_api.logins.LoginLockoutBackend")
            messages.success(
                request,
                f"Welcome! Your account is ready. Once reasoned request {named.request.reference} is approved, "
                "the project's credentials appear under Access and credentials.",
            )
            return redirect("portal:home")
    # The token is in the URL: the site-wide Referrer-Policy (same-origin) never sends it to another site.
    return render(request, "portal/invitation.html", {"form": form, "named": named, "request_": named.request})
