from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from researchers.models import orcid_checksum_ok, validate_orcid
from tests.researchers.factories import ResearcherFactory


@pytest.mark.parametrize("orcid", ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-1694-233X"])
def test_real_orcid_ids_pass_the_checksum(orcid):
    assert orcid_checksum_ok(orcid)
    validate_orcid(orcid)


@pytest.mark.parametrize(
    ("orcid", "code"),
    [
        ("0000-0002-1825-0098", "orcid_checksum"),
        ("0000-0002-1694-2330", "orcid_checksum"),
        ("0000-0002-1825-009", "orcid_format"),
        ("https://orcid.org/0000-0002-1825-0097", "orcid_format"),
        ("0000000218250097", "orcid_format"),
    ],
)
def test_malformed_or_mistyped_orcid_ids_are_refused(orcid, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_orcid(orcid)
    assert excinfo.value.code == code


@pytest.mark.django_db
def test_a_researcher_with_a_bad_orcid_does_not_validate():
    researcher = ResearcherFactory.build(orcid="0000-0002-1825-0098")
    researcher.user.save()
    researcher.organisation.save()
    with pytest.raises(ValidationError) as excinfo:
        researcher.full_clean()
    assert "orcid" in excinfo.value.message_dict


@pytest.mark.django_db
def test_two_researchers_cannot_share_an_orcid_but_may_both_have_none():
    ResearcherFactory(orcid="0000-0002-1825-0097")
    ResearcherFactory(orcid="")
    ResearcherFactory(orcid="")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ResearcherFactory(orcid="0000-0002-1825-0097")
