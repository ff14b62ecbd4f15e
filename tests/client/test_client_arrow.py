"""The client's Arrow fast path: record pages as Arrow IPC streams give the very DataFrame JSON gives."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.django_db

DATASET = "moderation-decisions"


def test_the_arrow_walk_gives_the_same_dataframe_as_the_json_walk(live):
    arrow = live.client(arrow=True)
    plain = live.client(arrow=False)
    assert arrow.use_arrow and not plain.use_arrow
    where = {"decided_on__gte": "2025-01-01"}  # the release dates by month (docs/privacy.md)
    by_arrow = arrow.records(DATASET, where=where, page_size=333)
    by_json = plain.records(DATASET, where=where, page_size=333)
    assert len(by_arrow) > 333  # several pages
    pd.testing.assert_frame_equal(by_arrow, by_json)
    assert by_arrow.attrs["release"] == by_json.attrs["release"] == live.release.version


def test_an_arrow_walk_honours_limit_and_fields(live):
    arrow = live.client(arrow=True).records(DATASET, fields=["policy", "decided_on"], limit=250, page_size=100)
    plain = live.client(arrow=False).records(DATASET, fields=["policy", "decided_on"], limit=250, page_size=100)
    assert list(arrow.columns) == ["policy", "decided_on"] and len(arrow) == 250
    pd.testing.assert_frame_equal(arrow, plain)
