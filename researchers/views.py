"""The researcher portal: thin views over the services; every page shows only the user's own objects."""

from __future__ import annotations

import json
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from moderation_data.aggregates.selectors import budgets_of
from moderation_data.exports import services as exports
from moderation_data.exports.models import Export
from moderation_data.exports.writers import CONTENT_TYPES
from platform_api.audit import record_access_event, record_after_send
from platform_api.errors import NotFoundError, PlatformError
from platform_api.middleware import set_log_path
from researchers import dashboard as dashboards
from researchers import selectors, services
from researchers.errors import EmailNotVerified
from researchers.forms import AnswerForm, ApplicationForm, RegistrationForm, WithdrawForm
from researchers.models import AccessGrant, Researcher
from researchers.quotas import export_allowance, usage_today


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
            services.send_email_verification(researcher=researcher)
            login(request, researcher.user, backend="platform_api.logins.LoginLockoutBackend")
            messages.success(
                request,
                f"Welcome! We sent a link to {researcher.user.email}: open it to confirm your address. "
                "You can start an application now and submit it once your address is confirmed.",
            )
            return redirect("portal:home")
    return render(request, "portal/register.html", {"form": form})


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the verification e-mail: works logged in or not (e.g. opened on another device).

    Opening it (GET) only asks to confirm; the address is confirmed by the button (POST). A mail
    scanner that fetches every link, or someone who registered another person's address and
    waits for them to open the e-mail, gets nothing confirmed by a GET: a confirmed address is
    what links an account to a regulator's request (docs/dsa-article-40.md).
    """
    set_log_path(request, "/portal/verify-email/…/")  # the access log never holds the token
    try:
        if request.method == "POST":
            researcher = services.verify_email(token=token)
            return render(request, "portal/verify_email.html", {"researcher": researcher, "confirmed": True})
        researcher = services.researcher_of_verification_link(token=token)
    except PlatformError as exc:
        return render(request, "portal/verify_email.html", {"error": exc.message}, status=400)
    return render(request, "portal/verify_email.html", {"researcher": researcher, "confirmed": False})


@login_required
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    researcher = _researcher(request)
    if researcher is None:
        return render(request, "portal/no_profile.html", status=403)
    if researcher.email_verified:
        messages.success(request, "Your address is already confirmed.")
    elif services.send_email_verification(researcher=researcher):
        messages.success(request, f"We sent a new link to {researcher.user.email}.")
    else:
        messages.error(request, "A link was sent less than a minute ago; please check your inbox (and spam folder).")
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/portal/") else "portal:home")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Choosing a password from the e-mailed reset link also proves the address is the researcher's."""

    def dispatch(self, *args, **kwargs):
        if kwargs.get("token") and kwargs["token"] != self.reset_url_token:
            set_log_path(self.request, f"/portal/password-reset/{kwargs.get('uidb64', '')}/…/")  # not the token
        return super().dispatch(*args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        researcher = getattr(form.user, "researcher", None)
        if researcher is not None:
            services.mark_email_verified(researcher=researcher)
        return response


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if _researcher(request) is None:
        return render(request, "portal/no_profile.html", status=403)
    return render(
        request,
        "portal/home.html",
        {
            "researcher": _researcher(request),
            "applications": selectors.applications_of(request.user),
            "grants": selectors.grants_of(request.user),
        },
    )


# --------------------------------------------------------------------------- applications
def _own_application(request: HttpRequest, pk: int):
    return get_object_or_404(selectors.applications_of(request.user), pk=pk)


def _save_application(request: HttpRequest, form: ApplicationForm, application=None):
    """Save the draft from a valid form, then submit it if asked. Returns the application, or None if not saved.

    Saving and submitting are separate steps: a submission the service refuses (e.g. the address is
    not confirmed yet) leaves the saved draft in place and says why.
    """
    try:
        if application is None:
            application = services.create_application(
                researcher=_researcher(request),
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
    except PlatformError as exc:
        _form_errors_from(form, exc)
        return None
    if not (form.submitting and application.status == application.Status.DRAFT):
        if application.status == application.Status.DRAFT:
            messages.success(request, "Draft saved. Come back to it at any time; submit it when it is complete.")
        else:
            messages.success(request, "Saved.")
        return application
    try:
        services.submit_application(application, actor=request.user)
    except PlatformError as exc:
        messages.warning(request, f"Draft saved, but not submitted: {exc.message}")
    else:
        messages.success(request, "Your application was submitted. We will email you about every step.")
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
    return render(
        request,
        "portal/application_form.html",
        {"form": form, "application": None, "researcher": _researcher(request)},
    )


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
    return render(
        request,
        "portal/application_form.html",
        {"form": form, "application": application, "researcher": _researcher(request)},
    )


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


def _problems_by_label(detail: dict | None) -> str:
    """A service's per-field problems named by the form's labels ("Public summary: ..."), not by keys."""
    fields = ApplicationForm().fields
    parts = []
    for key, errors in (detail or {}).items():
        label = fields[key].label if key in fields else key.replace("_", " ").capitalize()
        parts.append(f"{label}: {' '.join(errors) if isinstance(errors, list) else errors}")
    return "; ".join(parts)


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
    except EmailNotVerified as exc:
        messages.error(request, exc.message)
        return redirect("portal:application", pk=pk)
    except PlatformError as exc:
        messages.error(request, f"{exc.message} {_problems_by_label(exc.detail)}".strip())
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
    rows = [
        (grant, usage_today(grant), export_allowance(grant), budgets_of(grant))
        for grant in selectors.grants_of(request.user)
    ]
    return render(request, "portal/grants.html", {"rows": rows})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The researcher's own dashboard: per grant, credentials' age, usage, exports and readable releases."""
    if _researcher(request) is None:
        return render(request, "portal/no_profile.html", status=403)
    grant_list = list(selectors.grants_of(request.user))
    return render(
        request,
        "portal/dashboard.html",
        {"dashboards": [dashboards.grant_dashboard(grant) for grant in grant_list], "api_base": _api_base()},
    )


def _api_base() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


def credential_files(*, client_id: str, client_secret: str) -> dict[str, str]:
    """The credentials as a ``.env`` file (read by ``modresearch.Client.from_env()``) and as JSON."""
    env = (
        f"# API credentials for {settings.SITE_NAME}. Keep this file private.\n"
        f"MODRESEARCH_URL={_api_base()}\n"
        f"MODRESEARCH_CLIENT_ID={client_id}\n"
        f"MODRESEARCH_CLIENT_SECRET={client_secret}\n"
    )
    as_json = json.dumps({"url": _api_base(), "client_id": client_id, "client_secret": client_secret}, indent=2)
    return {"env": env, "json": as_json + "\n"}


def _credentials_page(request: HttpRequest, grant: AccessGrant, secret: str | None, status: int = 200):
    """The credentials page; with ``secret`` only as the answer to the POST that created it.

    The secret exists in plaintext only in this response: it is never put in the session, a
    message, the cache or a log, and the downloads are ``data:`` URLs inside this same page.
    """
    context: dict = {"grant": grant, "secret": secret, "api_base": _api_base()}
    if secret:
        files = credential_files(client_id=grant.oauth_client.client_id, client_secret=secret)
        context["env_file"] = files["env"]
        context["json_file"] = files["json"]
        context["env_href"] = "data:text/plain;charset=utf-8," + quote(files["env"])
        context["json_href"] = "data:application/json;charset=utf-8," + quote(files["json"])
    response = render(request, "portal/credentials.html", context, status=status)
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def credentials(request: HttpRequest, pk: int) -> HttpResponse:
    """Shows client_id always, and a secret exactly once: in the answer to the POST that issues it."""
    grant = _own_grant(request, pk)
    if request.method == "POST":
        # Only the first secret is collected here; later ones come from an explicit rotation.
        if grant.secret_issued_at is None and grant.is_usable():
            try:
                secret = services.rotate_client_secret(grant, actor=request.user, reason="collected in the portal")
            except PlatformError as exc:
                messages.error(request, exc.message)
            else:
                grant.refresh_from_db()
                return _credentials_page(request, grant, secret)
        return redirect("portal:credentials", pk=grant.pk)
    return _credentials_page(request, grant, None)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    grant = _own_grant(request, pk)
    if request.method == "POST":
        try:
            secret = services.rotate_client_secret(grant, actor=request.user, reason="rotated in the portal")
        except PlatformError as exc:
            messages.error(request, exc.message)
            return redirect("portal:credentials", pk=grant.pk)
        grant.refresh_from_db()
        return _credentials_page(request, grant, secret)
    return render(request, "portal/rotate.html", {"grant": grant})


# --------------------------------------------------------------------------- export files
# Bytes read and sent at a time (as the API's download).
DOWNLOAD_BLOCK = 1 << 20


@never_cache
@login_required
@require_GET
def export_download(request: HttpRequest, export_id) -> HttpResponse:
    """A ready export's file for its owner, in the browser (the API's ``/exports/{id}/file`` does the same for scripts).

    The export must belong to one of the researcher's grants; the right to the file is then checked
    again exactly as the API does (``exports.check_still_entitled``: grant active and allowing
    exports, release not withdrawn, dataset still on the grant). Every attempt writes one access
    event with the API's fields; a served file's is written once its body went out, with the bytes sent.
    """
    export = get_object_or_404(
        selectors.exports_of(request.user).select_related("grant__oauth_client", "release__dataset"), pk=export_id
    )
    grant = export.grant
    problem: tuple[int, str] | None = None
    try:
        exports.check_still_entitled(grant, export)
    except NotFoundError:  # the API's 404 not_found, said for a web page
        problem = (404, "This export's release was withdrawn: its file is no longer available.")
    except PlatformError as exc:
        problem = (exc.status_code, exc.message)
    else:
        if exports.is_expired(export):
            problem = (410, "This export has expired and its file was deleted; request it again.")
        elif export.status in (Export.Status.FAILED, Export.Status.CANCELLED):
            problem = (410, f"This export was {export.get_status_display().lower()}; it has no file.")
        elif export.status != Export.Status.READY:
            problem = (409, "This export is not ready yet; reload the dashboard in a moment.")
    event = {
        "request_id": getattr(request, "request_id", ""),
        "method": request.method,
        "endpoint": request.path,
        "status": problem[0] if problem else 200,
        "grant": grant,
        "client_id": grant.oauth_client.client_id,
        "dataset": export.release.dataset.slug,
        "release": export.release.version,
        "query": {"export": str(export.pk), "via": "portal"},
        "rows_returned": 0,
        "reference": grant.dsc_reference or "",
    }
    if problem is not None:
        record_access_event(**event)
        return render(
            request, "portal/export_unavailable.html", {"export": export, "message": problem[1]}, status=problem[0]
        )
    handle = exports.export_storage().open(export.file_name, "rb")
    counter = exports.SentCounter(size=export.bytes or 0, start=0, rows=export.row_count or 0)
    response = StreamingHttpResponse(
        counter.count(iter(lambda: handle.read(DOWNLOAD_BLOCK), b"")), content_type=CONTENT_TYPES[export.format]
    )
    response._resource_closers.append(handle.close)
    # As the API: the event is written once the body was sent, with the bytes that actually went out.
    response._resource_closers.append(lambda: record_after_send({**event, **counter.outcome()}))
    response["Content-Disposition"] = content_disposition_header(True, export.file_name.rsplit("/", 1)[-1])
    response["Content-Length"] = str(export.bytes or 0)
    response["ETag"] = f'"{export.sha256}"'
    response["Cache-Control"] = "private, no-store"
    return response
