"""Pseudonyms as a researcher receives them (docs/pseudonyms.md): keyed per project with a random,
destroyable key; decisions per release; accounts per release unless the grant links them; cursors
that open only for the grant that received them.

Attacks replayed: reversing pseudonyms with the old scheme (a key derived from the master key and
the public application id, or the settings constant); linking two projects' rows through a cursor;
recomputing a project's pseudonyms after its key was destroyed.
"""

from __future__ import annotations

import hashlib
import hmac
import io

import pytest
from django.core.management import call_command
from django.db import DataError, connection, transaction

from moderation_data.releases import pseudonyms
from moderation_data.releases.models import ProjectKey, Release
from moderation_data.releases.project_keys import ProjectKeyUnavailable, project_key, unwrap
from platform_api.models import AccessEvent
from researchers import services as researcher_services
from researchers.models import AccessGrant
from tests.api_fixtures import make_research_client
from tests.researchers.factories import StaffFactory

pytestmark = pytest.mark.django_db

RECORDS = "/api/v1/datasets/moderation-decisions/releases/latest/records"
FIELDS = ["decision_id", "account_id", "content_id", "policy"]
OLD_FALLBACK = "development-only-pseudonym-master-key-0123456789abcdef"


def rows_of(client, **params) -> list[dict]:
    response = client.get(RECORDS, {"fields": ",".join(FIELDS), "page_size": 200, **params})
    assert response.status_code == 200, response.content
    return response.json()["data"]


def stored(release, limit: int = 200) -> list[tuple[str, str | None, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT decision_id, account_id, content_id FROM {release.rows_table} ORDER BY row_id LIMIT %s",
                       [limit])  # fmt: skip
        return cursor.fetchall()


def as_release(release, pk: int):
    """The same rows as if they were another release (pseudonyms depend on the release id only)."""
    other = Release(pk=pk, dataset=release.dataset, version="other")
    return other


# --- the old schemes no longer reverse anything ------------------------------------------------------


def test_pseudonyms_cannot_be_recomputed_from_the_master_key_and_the_public_project_id(release, researcher):
    served = rows_of(researcher)
    bases = stored(release)
    project_id = researcher.grant.project_id  # shown by /me
    guesses = set()
    for master in (OLD_FALLBACK.encode(), pseudonyms.master_key()):  # even the real master key does not help
        old_project_key = hmac.new(master, f"project:{project_id}".encode(), hashlib.sha256).digest()
        for decision, account, content in bases:
            for base in filter(None, (decision, account, content)):
                for message in (base.encode(), b"decision\0" + base.encode(), b"account\0" + base.encode()):
                    guesses.add(hmac.new(old_project_key, message, hashlib.sha256).digest()[:12].hex())
    served_values = {row[name] for row in served for name in ("decision_id", "account_id", "content_id")} - {None}
    assert len(served_values) > 200
    assert served_values.isdisjoint(guesses)


def test_a_project_key_is_random_not_derived_from_the_project_id(researcher):
    key, generation = project_key(researcher.grant)
    assert generation == 1 and len(key) == 32
    for label in (f"project:{researcher.grant.project_id}", f"project:{researcher.grant.pk}"):
        assert key != pseudonyms.derive_key(label)
    row = ProjectKey.objects.get(project_id=researcher.grant.application_id)
    assert key.hex() not in bytes(row.wrapped).hex() and len(bytes(row.wrapped)) == 12 + 32 + 16  # wrapped


def test_the_served_pseudonyms_are_the_documented_hmac_of_the_stored_values(release, researcher):
    served = rows_of(researcher)
    key, _ = project_key(researcher.grant)
    for row, (decision, account, content) in zip(served, stored(release), strict=True):
        for kind, base in (("decision", decision), ("account", account), ("content", content)):
            expected = None
            if base is not None:
                message = f"{kind}\0release:{release.pk}\0{base}".encode()
                expected = hmac.new(key, message, hashlib.sha256).digest()[:12].hex()
            assert row[f"{kind}_id"] == expected


# --- composition: per project, per release, linkage by grant --------------------------------------


def test_two_projects_get_unrelated_pseudonyms_of_the_same_rows(release, researcher):
    other = make_research_client()
    mine, theirs = rows_of(researcher), rows_of(other)
    for name in ("decision_id", "account_id", "content_id"):
        a = {row[name] for row in mine} - {None}
        b = {row[name] for row in theirs} - {None}
        assert a and a.isdisjoint(b)


def test_decision_and_account_pseudonyms_differ_between_releases_by_default(release, researcher):
    bases = [b for b in stored(release) if b[1] is not None and b[2] is not None]
    first = pseudonyms.for_grant(researcher.grant, release)
    second = pseudonyms.for_grant(researcher.grant, as_release(release, release.pk + 1000))
    for decision, account, content in bases:
        assert first.pseudonym("decision", decision) != second.pseudonym("decision", decision)
        assert first.pseudonym("content", content) != second.pseudonym("content", content)
        assert first.pseudonym("account", account) != second.pseudonym("account", account)
    # Within one release an account keeps one pseudonym.
    assert first.pseudonym("account", bases[0][1]) == pseudonyms.for_grant(researcher.grant, release).pseudonym(
        "account", bases[0][1]
    )


def test_longitudinal_linkage_keeps_account_pseudonyms_across_releases_but_never_decisions(release, researcher):
    AccessGrant.objects.filter(pk=researcher.grant.pk).update(longitudinal_linkage=True)
    researcher.grant.refresh_from_db()
    bases = [b for b in stored(release) if b[1] is not None]
    first = pseudonyms.for_grant(researcher.grant, release)
    second = pseudonyms.for_grant(researcher.grant, as_release(release, release.pk + 1000))
    for decision, account, _content in bases:
        assert first.pseudonym("account", account) == second.pseudonym("account", account)
        assert first.pseudonym("decision", decision) != second.pseudonym("decision", decision)
    # Another project, linked or not, still shares nothing with this one.
    other = make_research_client()
    AccessGrant.objects.filter(pk=other.grant.pk).update(longitudinal_linkage=True)
    other.grant.refresh_from_db()
    theirs = pseudonyms.for_grant(other.grant, release)
    assert {first.pseudonym("account", b[1]) for b in bases}.isdisjoint(
        {theirs.pseudonym("account", b[1]) for b in bases}
    )
    assert researcher.get("/api/v1/me").json()["longitudinal_linkage"] is True


def test_linkage_is_off_by_default_and_shown_in_me(researcher):
    assert researcher.grant.longitudinal_linkage is False
    assert researcher.get("/api/v1/me").json()["longitudinal_linkage"] is False


def test_ids_of_different_kinds_never_share_a_pseudonym(release):
    base = stored(release, 1)[0][0]
    assert len({pseudonyms.base_pseudonym(base, kind=kind) for kind in pseudonyms.KINDS}) == 3


def test_pads_not_loaded_fail_loudly_instead_of_making_null_pseudonyms(release):
    project = pseudonyms.ProjectPseudonyms(key=b"k" * 32, generation=1, release_scope="r", account_scope="r")
    sql, params = project.sql("decision_id", "decision")
    with connection.cursor() as cursor:
        pseudonyms.ensure_pads(cursor, [b"another key" * 3])  # the table exists, without this key's pads
        with pytest.raises(DataError, match="division by zero"):
            cursor.execute(f"SELECT {sql} FROM {release.rows_table} LIMIT 1", params)


@pytest.mark.parametrize(
    "key", [b"k", b"\x00" * 32, b"long key " * 20, bytes(range(32))], ids=["short", "zeros", "long", "bytes"]
)
def test_sql_hmac_equals_python_hmac_for_any_key_and_message(key):
    messages = ["", "a", "7345617503298525984", "ünïcødé ✓", "x" * 200]
    with connection.cursor() as cursor:
        pseudonyms.ensure_pads(cursor, [key])
        for message in messages:
            sql, params = pseudonyms.hmac_sql("%s", key, prefix=b"decision\0", nbytes=32)
            cursor.execute(f"SELECT {sql}", [*params, message])
            expected = hmac.new(key, b"decision\0" + message.encode(), hashlib.sha256).hexdigest()
            assert cursor.fetchone()[0] == expected


def test_pads_survive_a_rolled_back_transaction(release):
    key = b"rollback test key".ljust(32, b"!")
    sql, params = pseudonyms.hmac_sql("'x'", key, nbytes=32)
    with pytest.raises(RuntimeError), connection.cursor() as cursor, transaction.atomic():
        pseudonyms.ensure_pads(cursor, [key])
        raise RuntimeError("roll back the load")
    with connection.cursor() as cursor:
        pseudonyms.ensure_pads(cursor, [key])  # finds the pads gone and loads them again
        cursor.execute(f"SELECT {sql}", params)
        assert cursor.fetchone()[0] == hmac.new(key, b"x", hashlib.sha256).hexdigest()


# --- crypto-shredding --------------------------------------------------------------------------------


def test_shredding_a_project_key_makes_its_pseudonyms_unrecoverable_and_is_audited(release, researcher):
    before = rows_of(researcher)
    old_key, _ = project_key(researcher.grant)
    out = io.StringIO()
    call_command("shred_project_keys", str(researcher.grant.application_id), "--reason", "project ended", stdout=out)
    assert "Destroyed 1 pseudonym key(s)" in out.getvalue()

    row = ProjectKey.objects.get(project_id=researcher.grant.application_id, generation=1)
    assert row.destroyed_at is not None and bytes(row.wrapped) == b""
    event = AccessEvent.objects.filter(endpoint="shred_project_keys").latest("id")
    assert event.grant_id == researcher.grant.pk and event.query["keys_destroyed"] == 1

    # The project, still active, gets a fresh key: none of its old pseudonyms comes back.
    after = rows_of(researcher)
    for name in ("decision_id", "account_id"):
        assert {r[name] for r in before}.isdisjoint({r[name] for r in after} - {None})
    # Nothing stored can recompute the old values: every live key is the new one.
    for live in ProjectKey.objects.filter(project_id=researcher.grant.application_id).active():
        key = unwrap(live.wrapped, project_id=live.project_id, version=live.key_version, generation=live.generation)
        assert key != old_key


def test_an_ended_projects_requests_are_refused_once_its_key_is_destroyed(release, researcher):
    rows_of(researcher)
    researcher_services.revoke_grant(researcher.grant, actor=StaffFactory(), reason="project ended")
    researcher.grant.refresh_from_db()
    call_command("shred_project_keys", str(researcher.grant.application_id), stdout=io.StringIO())
    with pytest.raises(ProjectKeyUnavailable):
        pseudonyms.for_grant(researcher.grant, release)
    assert not ProjectKey.objects.filter(project_id=researcher.grant.application_id).active().exists()


def test_the_admin_action_destroys_the_selected_projects_keys(release, researcher, client):
    rows_of(researcher)
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff)
    key = ProjectKey.objects.get(project_id=researcher.grant.application_id)
    response = client.post(
        "/admin/moderation_data/projectkey/", {"action": "shred_action", "_selected_action": [key.pk]}, follow=True
    )
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.destroyed_at is not None and bytes(key.wrapped) == b""
    assert AccessEvent.objects.filter(endpoint="shred_project_keys", grant=researcher.grant).exists()


def test_staff_who_may_only_view_keys_cannot_destroy_them(release, researcher, client):
    from django.contrib.auth.models import Permission

    rows_of(researcher)
    viewer = StaffFactory(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_projectkey"))
    client.force_login(viewer)
    key = ProjectKey.objects.get(project_id=researcher.grant.application_id)
    page = client.get("/admin/moderation_data/projectkey/")
    assert page.status_code == 200 and b"shred_action" not in page.content
    client.post("/admin/moderation_data/projectkey/", {"action": "shred_action", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.destroyed_at is None and bytes(key.wrapped) != b""
    assert not AccessEvent.objects.filter(endpoint="shred_project_keys").exists()


def test_unknown_project_is_a_clear_command_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No project with id 987654"):
        call_command("shred_project_keys", "987654")


# --- cursors ----------------------------------------------------------------------------------------


def test_another_projects_cursor_is_refused_and_returns_no_data(release, researcher):
    other = make_research_client()
    cursor = researcher.get(RECORDS, {"page_size": 5}).json()["next_cursor"]
    response = other.get(RECORDS, {"page_size": 5, "cursor": cursor})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid_cursor" and "data" not in body
    assert researcher.get(RECORDS, {"page_size": 5, "cursor": cursor}).status_code == 200


def test_a_cursor_carries_no_row_id_in_clear(release, researcher):
    import base64

    cursor = researcher.get(RECORDS, {"page_size": 5}).json()["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert (5).to_bytes(8, "big") not in raw
    assert researcher.get(RECORDS, {"page_size": 5}).json()["next_cursor"] != cursor  # fresh nonce


# --- fingerprints ------------------------------------------------------------------------------------


def test_releases_record_a_key_fingerprint_never_the_key(release, researcher):
    body = researcher.get("/api/v1/datasets/moderation-decisions/releases/latest").json()
    assert (
        body["key_fingerprint"] == release.key_fingerprint == pseudonyms.key_fingerprint(release.pseudonym_key_version)
    )
    assert len(release.key_fingerprint) == 16
    text = str(body)
    master = pseudonyms.master_key()
    assert master.hex() not in text and master.hex()[:16] != release.key_fingerprint


def test_two_real_releases_never_share_decision_ids_and_link_accounts_only_if_granted(release):
    import datetime as dt

    from tests.api_fixtures import build_published_release

    # Releases cover disjoint periods (docs/privacy.md): two consecutive releases after the shared one,
    # the same accounts deciding in both (the demo's accounts act throughout its twelve weeks).
    after_shared = release.period_end + dt.timedelta(days=1)
    first = build_published_release(rows=1600, seed=21, days=84, version="2099.1",
                                    period_end=after_shared + dt.timedelta(days=27))  # fmt: skip
    second = build_published_release(rows=0, version="2099.2")
    assert second.period_start == first.period_end + dt.timedelta(days=1)
    client = make_research_client()

    def served(release) -> list[tuple[str, str | None, dict]]:
        """(stored base decision pseudonym, stored base account pseudonym, served row), in row order."""
        url = f"/api/v1/datasets/moderation-decisions/releases/{release.version}/records"
        rows = client.get(url, {"fields": "decision_id,account_id", "page_size": 1000}).json()["data"]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT decision_id, account_id FROM {release.rows_table} ORDER BY row_id")
            stored = cursor.fetchall()
        return [(d, a, row) for (d, a), row in zip(stored, rows, strict=True)]

    def by_account(rows) -> dict[str, set[str]]:
        accounts: dict[str, set[str]] = {}
        for _, account, row in rows:
            if account:
                accounts.setdefault(account, set()).add(row["account_id"])
        return accounts

    a, b = served(first), served(second)
    # No decision is in both releases, and no served decision id either.
    assert not {d for d, _, _ in a} & {d for d, _, _ in b}
    assert not {row["decision_id"] for _, _, row in a} & {row["decision_id"] for _, _, row in b}
    accounts_a, accounts_b = by_account(a), by_account(b)
    common = set(accounts_a) & set(accounts_b)
    assert len(common) > 20
    # Within a release an account has one pseudonym; across releases, by default, unrelated ones.
    assert all(len(accounts_a[acct]) == len(accounts_b[acct]) == 1 for acct in common)
    assert all(accounts_a[acct] != accounts_b[acct] for acct in common)
    assert not set().union(*accounts_a.values()) & set().union(*accounts_b.values())

    AccessGrant.objects.filter(pk=client.grant.pk).update(longitudinal_linkage=True)
    a, b = served(first), served(second)
    accounts_a, accounts_b = by_account(a), by_account(b)
    assert all(accounts_a[acct] == accounts_b[acct] for acct in common)
    assert not {row["decision_id"] for _, _, row in a} & {row["decision_id"] for _, _, row in b}
