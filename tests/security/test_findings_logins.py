"""Red-team finding (issue 15): no brute-force protection on /admin/login/ and /portal/login/ (25 wrong
passwords, then the right one worked). Now django-axes locks a (user, IP) pair out, staff see it in
the admin, and staff who registered a TOTP device must give its code at the admin login (django-otp)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.researchers.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def post_login(http: Client, path: str, username: str, password: str, ip: str, **extra):
    return http.post(path, {"username": username, "password": password, **extra}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("path", ["/admin/login/", "/portal/login/"])
def test_25_wrong_passwords_then_the_right_one_is_locked_out(path):
    user = StaffFactory() if path.startswith("/admin") else UserFactory()
    http = Client()
    statuses = [post_login(http, path, user.username, f"wrong-{n}", "10.40.0.1").status_code for n in range(25)]
    assert statuses[:9] == [200] * 9  # the form again, with its error
    assert 429 in statuses
    locked = post_login(http, path, user.username, PASSWORD, "10.40.0.1")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in http.session
    # The lockout is per (user, IP): the same user from another address still logs in.
    other = Client()
    assert post_login(other, path, user.username, PASSWORD, "10.40.0.2").status_code == 302
    # Staff see the attempts (and can delete them to lift the lockout) in the admin.
    attempt = AccessAttempt.objects.get(username=user.username, ip_address="10.40.0.1")
    assert attempt.failures_since_start >= 10
    assert PASSWORD not in attempt.post_data and "wrong-" not in attempt.post_data
    staff = Client()
    staff.force_login(StaffFactory())
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and user.username in listing.content.decode()


def totp_of(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return str(totp.token()).zfill(device.digits)


def test_staff_with_a_device_need_its_code_at_the_admin_login():
    staff = StaffFactory()
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    http = Client()
    refused = post_login(http, "/admin/login/", staff.username, PASSWORD, "10.41.0.1")
    assert refused.status_code == 200 and "one-time code" in refused.content.decode()
    assert "_auth_user_id" not in http.session
    accepted = post_login(http, "/admin/login/", staff.username, PASSWORD, "10.41.0.1", otp_token=totp_of(device))
    assert accepted.status_code == 302
    assert http.get("/admin/").status_code == 200


def test_a_staff_session_that_skipped_the_second_factor_is_refused_by_the_admin():
    staff = StaffFactory()
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    http = Client()
    http.force_login(staff)  # a session obtained without the one-time code
    response = http.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_a_device_log_in_with_their_password_alone():
    staff = StaffFactory()
    http = Client()
    assert post_login(http, "/admin/login/", staff.username, PASSWORD, "10.42.0.1").status_code == 302
    assert http.get("/admin/").status_code == 200


def test_a_staff_members_totp_secret_is_shown_and_set_only_by_them():
    """Another staff member, even one who may change every device, can neither read a device's seed
    (key field, QR code) nor replace it with a key of their choosing: they could clone the factor."""
    owner = StaffFactory()
    device = TOTPDevice.objects.create(user=owner, name="phone", confirmed=True)
    key = device.key
    colleague = Client()
    colleague.force_login(StaffFactory())  # a superuser without a device of their own
    change = f"/admin/otp_totp/totpdevice/{device.pk}/change/"
    page = colleague.get(change)
    assert page.status_code == 200 and key not in page.content.decode()
    for view in ("config", "qrcode"):
        assert colleague.get(f"/admin/otp_totp/totpdevice/{device.pk}/{view}/").status_code == 403
    assert 'name="key"' not in colleague.get("/admin/otp_totp/totpdevice/add/").content.decode()
    form = {"user": owner.pk, "name": "phone", "confirmed": "on", "step": 30, "t0": 0, "digits": 6,
            "tolerance": 1, "drift": 0, "throttling_failure_count": 0, "key": "00" * 20}  # fmt: skip
    assert colleague.post(change, form).status_code == 302
    device.refresh_from_db()
    assert device.key == key
    # The device's own user (logged in with its code) reads the QR code to enrol an authenticator.
    http = Client()
    post_login(http, "/admin/login/", owner.username, PASSWORD, "10.42.0.1", otp_token=totp_of(device))
    assert http.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 200
    assert key in http.get(change).content.decode()
