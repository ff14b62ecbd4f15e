"""The researcher portal: thin views over the services; every page shows only the user's own objects."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from platform_api.errors import PlatformError
from researchers import selectors, services
from researchers.forms import AnswerForm, ApplicationForm, RegistrationForm, WithdrawForm
from researchers.models import AccessGrant, Researcher
from researchers.quotas import export_allowance, usage_today

SECRET_SESSION_KEY = "portal-secret-{pk}"  # noqa: S105 - a session key name, not a secret


def _researcher(request: HttpRequest) -> Researcher | None:
    return getattr(request.user, "researcher", None)


def _form_errors_from(form, exc: PlatformError) -> None:
    """Put a service's refusal next to the fields it names (or on top of the form)."""
    placed = False
    for field, errors in (exc.detail or {}).items():
        if field in form.fields:
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(field, str(error))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


# --------------------------------------------------------------------------- account
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:home")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            organisation = services.get_or_create_organisation(
                name=data["organisation_name"], country=data["organisation_country"], type=data["organisation_type"]
            )
            researcher = services.register_researcher(
                email=data["email"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                organisation=organisation,
                country=data["country"],
                orcid=data["orcid"],
                affiliation=data["affiliation"],
            )
        except PlatformError as exc:
            _form_errors_from(form, exc)
        else:
            login(request, researcher.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready; start an application below.")
            return redirect("portal:home")
    return render(request, "portal/register.html", {"form": form})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if _researcher(request) is None:
        return render(request, "portal/no_profile.html", status=403)
    return render(
        request,
        "portal/home.html",
        {
            "applications": selectors.applications_of(request.user),
            "grants": selectors.grants_of(request.user),
        },
    )


# --------------------------------------------------------------------------- applications
def _own_application(request: HttpRequest, pk: int):
    return get_object_or_404(selectors.applications_of(request.user), pk=pk)


def _save_application(request: HttpRequest, form: ApplicationForm, application=None):
    """Create or update the draft from a valid form; submit it if asked. Returns the application or None."""
    researcher = _researcher(request)
    try:
        if application is None:
            application = services.create_application(
                researcher=researcher,
                fields=form.service_fields(),
                datasets=form.cleaned_data["datasets_requested"],
            )
        else:
            application = services.update_application(
                application,
                actor=request.user,
                fields=form.service_fields(),
                datasets=form.cleaned_data["datasets_requested"],
            )
        if form.submitting and application.status == application.Status.DRAFT:
            services.submit_application(application, actor=request.user)
            messages.success(request, "Your application was submitted. We will email you about every step.")
        else:
            messages.success(request, "Saved.")
    except PlatformError as exc:
        _form_errors_from(form, exc)
        return None
    return application


@login_required
@require_http_methods(["GET", "POST"])
def application_new(request: HttpRequest) -> HttpResponse:
    if _researcher(request) is None:
        return render(request, "portal/no_profile.html", status=403)
    submitting = "submit" in request.POST
    form = ApplicationForm(request.POST or None, submitting=submitting)
    if request.method == "POST" and form.is_valid():
        application = _save_application(request, form)
        if application is not None:
            return redirect("portal:application", pk=application.pk)
    return render(request, "portal/application_form.html", {"form": form, "application": None})


@login_required
@require_http_methods(["GET", "POST"])
def application_edit(request: HttpRequest, pk: int) -> HttpResponse:
    application = _own_application(request, pk)
    if not application.is_editable:
        messages.error(request, f"This application is {application.get_status_display().lower()}; it cannot be edited.")
        return redirect("portal:application", pk=pk)
    submitting = "submit" in request.POST
    form = ApplicationForm(request.POST or None, instance=application, submitting=submitting)
    if request.method == "POST" and form.is_valid():
        saved = _save_application(request, form, application)
        if saved is not None:
            return redirect("portal:application", pk=pk)
    return render(request, "portal/application_form.html", {"form": form, "application": application})


@login_required
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = _own_application(request, pk)
    return render(
        request,
        "portal/application_detail.html",
        {
            "application": application,
            "history": selectors.application_history(application),
            "information_request": application.latest_information_request
            if application.status == application.Status.INFO_REQUESTED
            else None,
            "answer_form": AnswerForm(),
            "grant": getattr(application, "grant", None),
        },
    )


@login_required
@require_POST
def application_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Submit a complete draft, or send the answer to an information request."""
    application = _own_application(request, pk)
    answer_form = AnswerForm(request.POST) if application.status == application.Status.INFO_REQUESTED else None
    if answer_form is not None and not answer_form.is_valid():
        return render(
            request,
            "portal/application_detail.html",
            {
                "application": application,
                "history": selectors.application_history(application),
                "information_request": application.latest_information_request,
                "answer_form": answer_form,
            },
            status=400,
        )
    try:
        services.submit_application(
            application, actor=request.user, reason=answer_form.cleaned_data["answer"] if answer_form else ""
        )
    except PlatformError as exc:
        problems = "; ".join(f"{k.replace('_', ' ')}: {' '.join(v)}" for k, v in (exc.detail or {}).items())
        messages.error(request, f"{exc.message} {problems}".strip())
        return redirect("portal:application_edit" if application.is_editable else "portal:application", pk=pk)
    messages.success(request, "Sent. The review continues; we will email you.")
    return redirect("portal:application", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def application_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    application = _own_application(request, pk)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_application(application, actor=request.user, reason=form.cleaned_data["reason"])
        except PlatformError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The application was withdrawn.")
        return redirect("portal:application", pk=pk)
    return render(request, "portal/withdraw.html", {"application": application, "form": form})


# --------------------------------------------------------------------------- grants and credentials
def _own_grant(request: HttpRequest, pk: int) -> AccessGrant:
    return get_object_or_404(selectors.grants_of(request.user), pk=pk)


@login_required
def grants(request: HttpRequest) -> HttpResponse:
    rows = [(grant, usage_today(grant), export_allowance(grant)) for grant in selectors.grants_of(request.user)]
    return render(request, "portal/grants.html", {"rows": rows})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def credentials(request: HttpRequest, pk: int) -> HttpResponse:
    """Shows client_id always, and a secret exactly once: the session holds it until this page shows it."""
    grant = _own_grant(request, pk)
    key = SECRET_SESSION_KEY.format(pk=grant.pk)
    if request.method == "POST":
        # Only the first secret is collected here; later ones come from an explicit rotation.
        if grant.secret_issued_at is None and grant.is_usable():
            try:
                request.session[key] = services.rotate_client_secret(
                    grant, actor=request.user, reason="collected in the portal"
                )
            except PlatformError as exc:
                messages.error(request, exc.message)
        return redirect("portal:credentials", pk=grant.pk)
    secret = request.session.pop(key, None)
    response = render(request, "portal/credentials.html", {"grant": grant, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    grant = _own_grant(request, pk)
    if request.method == "POST":
        try:
            request.session[SECRET_SESSION_KEY.format(pk=grant.pk)] = services.rotate_client_secret(
                grant, actor=request.user, reason="rotated in the portal"
            )
        except PlatformError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "A new secret was issued. The previous one no longer works.")
        return redirect("portal:credentials", pk=grant.pk)
    return render(request, "portal/rotate.html", {"grant": grant})
