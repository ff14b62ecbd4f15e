from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from moderation_data.catalog import public as catalogue
from researchers import views
from researchers.forms import LoginForm
from researchers.reasoned_requests import views as dsc_views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("register/", views.register, name="register"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="portal/login.html", authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("portal:login")), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="portal/password_reset.html",
            email_template_name="portal/email/password_reset.txt",
            subject_template_name="portal/email/password_reset_subject.txt",
            success_url=reverse_lazy("portal:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(
            template_name="portal/password_reset_confirm.html",
            success_url=reverse_lazy("portal:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="portal/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("applications/new/", views.application_new, name="application_new"),
    path("applications/<int:pk>/", views.application_detail, name="application"),
    path("applications/<int:pk>/edit/", views.application_edit, name="application_edit"),
    path("applications/<int:pk>/submit/", views.application_submit, name="application_submit"),
    path("applications/<int:pk>/withdraw/", views.application_withdraw, name="application_withdraw"),
    path("verify-email/<str:token>/", views.verify_email, name="verify_email"),
    path("verify-email/", views.resend_verification, name="resend_verification"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("exports/<uuid:export_id>/download/", views.export_download, name="export_download"),
    path("grants/", views.grants, name="grants"),
    path("grants/<int:pk>/credentials/", views.credentials, name="credentials"),
    path("grants/<int:pk>/rotate/", views.rotate_secret, name="rotate_secret"),
    # Researchers named in a DSC's reasoned request create their account here (docs/dsa-article-40.md).
    path("invitations/<str:token>/", dsc_views.accept_invitation, name="invitation"),
    # The public data catalogue (docs/catalogue.md): no login needed.
    path("catalogue/", catalogue.catalogue_page, name="catalogue"),
]
