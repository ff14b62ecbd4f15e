from __future__ import annotations

import threading

import pytest
from django.db import connection
from oauth2_provider.models import Application

from researchers import services
from researchers.errors import InvalidTransition
from researchers.models import AccessGrant, ResearchApplication
from tests.researchers.factories import StaffFactory, make_application


@pytest.mark.django_db(transaction=True)
def test_two_admins_approving_at_once_issue_exactly_one_grant_and_one_client():
    application = make_application(status="under_review")
    # (Module fixtures of earlier modules on this worker may have committed clients of their own.)
    grants_before, clients_before = AccessGrant.objects.count(), Application.objects.count()
    admins = [StaffFactory(), StaffFactory()]
    barrier = threading.Barrier(2)
    results: list[object] = []

    def approve(admin) -> None:
        try:
            barrier.wait()
            results.append(services.approve_application(application, reviewer=admin, reason="yes"))
        except Exception as exc:  # collected and asserted below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    grants = [r for r in results if isinstance(r, AccessGrant)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(grants) == 1
    assert len(errors) == 1 and isinstance(errors[0], InvalidTransition)
    assert errors[0].current == "approved"
    assert AccessGrant.objects.count() == grants_before + 1
    assert Application.objects.count() == clients_before + 1
    application.refresh_from_db()
    assert application.status == ResearchApplication.Status.APPROVED
    assert application.history.filter(to_status="approved").count() == 1
