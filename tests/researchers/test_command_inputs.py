"""Bad input to build_release, grant_access and evidence_file is refused with a CommandError, before any work."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from moderation_data.catalog.models import Dataset
from moderation_data.management.commands import build_release as build_release_command
from moderation_data.releases import services as release_services
from moderation_data.releases.models import Release
from platform_api.errors import NotFoundError
from researchers import evidence
from researchers.management.commands import evidence_file as evidence_file_command
from researchers.models import Organisation, Researcher
from tests.researchers.factories import ensure_datasets

pytestmark = pytest.mark.django_db
User = get_user_model()


def quiet(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


# --------------------------------------------------------------------------- build_release --version
@pytest.mark.parametrize(
    "version",
    [
        "latest",  # the API's alias for the newest release: its citation would drift
        "LATEST",
        "Latest",
        "2025/Q1",  # <str:version> never matches "/": unreachable through the API and portal
        "2025 Q1",  # would go unquoted into citation URLs
        "a" * 33,  # longer than Release.version (a DataError before)
        "",
        ".hidden",
        "-rc1",
        "v1?x=1",
        "version#2",
        "1.0\n",
        "ü1",
    ],
)
def test_build_release_refuses_a_bad_version_and_creates_nothing(version):
    ensure_datasets()
    with pytest.raises(CommandError, match="not a valid release version") as raised:
        quiet("build_release", "moderation-decisions", f"--version={version}")
    assert "letters, digits" in str(raised.value)
    assert not Release.objects.exists()


@pytest.mark.parametrize("version", ["2026.11.30", "2026.11.30.2", "v1.0-rc_1", "2025-Q1", "a" * 32, "latest2"])
def test_build_release_accepts_ordinary_versions(version):
    assert build_release_command.check_version(version) == version


def test_the_automatic_version_passes_the_rule():
    ensure_datasets()
    dataset = Dataset.objects.get(slug="moderation-decisions")
    version = release_services._next_version(dataset)
    assert build_release_command.check_version(version) == version
    assert len(version) <= Release._meta.get_field("version").max_length


# --------------------------------------------------------------------------- grant_access --country / --email
def grant(*extra: str) -> None:
    quiet("grant_access", "--email", "jane@uni.example", "--project", "P", "--datasets", "moderation-decisions", *extra)


def assert_nothing_created() -> None:
    assert not User.objects.exists()
    assert not Organisation.objects.exists()
    assert not Researcher.objects.exists()


@pytest.mark.parametrize(
    ("country", "hint"),
    [("Germany", "Did you mean DE?"), ("germany", "Did you mean DE?"), ("DEU", "Did you mean DE?"), ("XX", None)],
)
def test_grant_access_refuses_a_country_that_is_not_a_code(country, hint):
    ensure_datasets()
    with pytest.raises(CommandError, match="is not a country code") as raised:
        grant("--organisation", "Uni", "--country", country)
    assert repr(country) in str(raised.value)
    assert (hint in str(raised.value)) if hint else "Did you mean" not in str(raised.value)
    assert_nothing_created()


@pytest.mark.parametrize("email", ["not-an-email", "jane@", "@uni.example", "jane doe@uni.example", ""])
def test_grant_access_refuses_an_email_that_is_not_an_address(email):
    ensure_datasets()
    with pytest.raises(CommandError, match="is not an email address") as raised:
        quiet("grant_access", "--email", email, "--project", "P", "--datasets", "moderation-decisions")
    assert repr(email) in str(raised.value)
    assert_nothing_created()


@pytest.mark.parametrize(("option", "limit"), [("--organisation", 200), ("--project", 300)])
def test_grant_access_refuses_a_name_longer_than_its_column(option, limit):
    ensure_datasets()
    with pytest.raises(CommandError, match=f"{option} is {limit + 1} characters long; at most {limit}"):
        quiet("grant_access", "--email", "jane@uni.example", "--project", "P", "--datasets", "moderation-decisions",
              option, "x" * (limit + 1))  # fmt: skip
    assert_nothing_created()


def test_grant_access_still_takes_a_lower_case_code():
    ensure_datasets()
    grant("--organisation", "Uni", "--country", "de")
    researcher = Researcher.objects.get(user__email="jane@uni.example")
    assert researcher.country == "DE" and researcher.organisation.country == "DE"


# --------------------------------------------------------------------------- evidence_file
@pytest.fixture
def build_calls(monkeypatch) -> list:
    calls: list = []
    real = evidence_file_command.build_evidence_file

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(evidence_file_command, "build_evidence_file", spy)
    return calls


@pytest.mark.parametrize("output", ["/no/such/dir/x.zip", "{tmp}/missing/x.zip", "{tmp}/missing/"])
def test_evidence_file_refuses_a_missing_output_directory_before_building(issued, build_calls, tmp_path, output):
    grant_, _, _ = issued
    output = output.format(tmp=tmp_path)
    with pytest.raises(CommandError, match="no directory"):
        quiet("evidence_file", str(grant_.pk), "-o", output)
    assert build_calls == []
    assert list(tmp_path.iterdir()) == []


def test_evidence_file_still_writes_into_a_directory_or_a_named_file(issued, build_calls, tmp_path):
    grant_, _, _ = issued
    quiet("evidence_file", f"grant:{grant_.pk}", "-o", str(tmp_path))
    quiet("evidence_file", f"grant:{grant_.pk}", "-o", str(tmp_path / "named.zip"))
    assert len(build_calls) == 2
    assert len(list(tmp_path.glob("*.zip"))) == 2 and (tmp_path / "named.zip").exists()


@pytest.mark.parametrize("reference", ["grant:²", "²", "#²", "grant:٣", "grant:1²", "grant:-1", "grant:"])
def test_evidence_file_refuses_a_reference_that_is_not_an_ascii_number(issued, build_calls, tmp_path, reference):
    with pytest.raises(CommandError, match="No reasoned request or grant"):
        quiet("evidence_file", reference, "-o", str(tmp_path))
    assert build_calls == []


def test_resolve_takes_only_ascii_digits(issued):
    grant_, _, _ = issued
    assert evidence.resolve(f"grant:{grant_.pk}")[1] == grant_
    assert evidence.resolve(f" #{grant_.pk} ")[1] == grant_
    fullwidth = str(grant_.pk).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    with pytest.raises(NotFoundError):
        evidence.resolve(f"grant:{fullwidth}")
