"""The evidence file for regulators (docs/dsa-article-40.md, "Evidence file").

For one DSC reasoned request or one grant, a zip an auditor can check without access to the
platform:

- ``manifest.json``: the request, the vetting or DSC decision, deadlines and whether they were met,
  the amendment history, the grant's terms and every change to them, credentials issued and
  rotated (ids and times, never secrets), the access events' range and its chain verification,
  exports with their sha256 (and whether the stored file still matches), and the sha256 of every
  other file in the zip;
- ``summary.html``: the same, for people;
- ``access-events.jsonl``: the grant's access events, with the fields their hashes cover;
- ``audit-chain.jsonl``: id, prev_hash and hash of *every* event in the grant's range (other
  grants' events only as hashes), so the links can be checked without other researchers' data;
- ``request-document/<name>``: the DSC's request document, if one was attached.

Secrets never enter it: no client secret (plain or hashed), token, password hash, invitation link
or key material (a test scans the zip for them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import zipfile
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from oauth2_provider.models import AccessToken

from moderation_data.exports.models import Export
from moderation_data.exports.services import export_storage
from platform_api.audit import (
    GENESIS,
    canonical,
    check_against_checkpoints,
    read_checkpoints,
    seal_chain,
    verify_chain,
)
from platform_api.errors import NotFoundError
from platform_api.models import AccessEvent
from researchers.models import AccessGrant, GrantEvent, ResearchApplication
from researchers.reasoned_requests import deadlines
from researchers.reasoned_requests.models import AMENDMENT_WINDOW_DAYS, ReasonedRequest, ReasonedRequestEvent

logger = logging.getLogger(__name__)
FORMAT = "dsa40-evidence-file/1"


@dataclasses.dataclass(frozen=True)
class EvidenceFile:
    filename: str
    content: bytes
    manifest: dict

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def verified(self) -> bool:
        """The event range passes the chain check and every export file still present matches its sha256."""
        events = self.manifest["access_events"]["verification"]
        exports_ok = all(e["file"]["matches"] is not False for e in self.manifest["exports"])
        return events["ok"] and exports_ok


def resolve(reference: str) -> tuple[ReasonedRequest | None, AccessGrant | None]:
    """A DSC request reference, else a grant id (``12`` or ``grant:12``); 404 ``not_found`` if neither."""
    text = reference.strip()
    request = ReasonedRequest.objects.filter(reference__iexact=text).first()
    if request is not None:
        return request, request.grant
    number = text.removeprefix("grant:").removeprefix("#")
    if number.isascii() and number.isdecimal():  # "²".isdigit() and "٣".isdigit() hold too; int("²") fails
        grant = AccessGrant.objects.filter(pk=int(number)).first()
        if grant is not None:
            request = ReasonedRequest.objects.filter(application_id=grant.application_id).first()
            return request, grant
    raise NotFoundError(f"No reasoned request or grant {reference!r}.")


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _person(user) -> str | None:
    return None if user is None else (user.get_username() or str(user.pk))


# --------------------------------------------------------------------------- sections
def _request_section(request: ReasonedRequest) -> dict:
    document = None
    if request.request_document:
        document = {
            "name": request.request_document.name.rsplit("/", 1)[-1],
            "sha256_recorded": request.request_document_sha256,
        }
    return {
        "reference": request.reference,
        "dsc": {"member_state": request.dsc_member_state, "authority": request.dsc_authority},
        "received_at": _iso(request.received_at),
        "status": request.status,
        "title": request.title,
        "research_purpose": request.research_purpose,
        "systemic_risk_areas": list(request.systemic_risk_areas),
        "organisation": {"name": request.organisation.name, "country": request.organisation.country},
        "terms": {
            "datasets": sorted(d.slug for d in request.datasets.all()),
            "fields": list(request.fields_requested),
            "data_from": _iso(request.data_from),
            "data_until": _iso(request.data_until),
            "modality": request.modality,
            "access_from": _iso(request.access_from),
            "access_until": _iso(request.access_until),
        },
        "security_requirements": request.security_requirements,
        "confidentiality_requirements": request.confidentiality_requirements,
        "document": document,
        "recorded_by": _person(request.recorded_by),
        "recorded_at": _iso(request.created_at),
        "researchers": [
            {
                "name": named.name,
                "email": named.email,
                "orcid": named.orcid or None,
                "affiliation": named.affiliation or None,
                "principal": named.is_principal,
                "account": named.researcher.user.get_username() if named.researcher else None,
                "invited_at": _iso(named.invited_at),
                "accepted_at": _iso(named.accepted_at),
            }
            for named in request.researchers.select_related("researcher__user")
        ],
    }


def _deadlines_section(request: ReasonedRequest) -> dict:
    zone = request.zone
    closes = request.amendment_window_closes_at
    amendments = []
    for amendment in request.amendments.all():
        due = deadlines.window_closes_at(amendment.requested_at, zone)  # the DSC decides within 15 days too
        amendments.append(
            {
                "requested_at": _iso(amendment.requested_at),
                "within_amendment_window": amendment.requested_at < closes,
                "days_left_when_requested": deadlines.days_left(closes, zone, amendment.requested_at),
                "dsc_decision_due_by": _iso(due),
                "dsc_decided_on": _iso(amendment.decided_on),
                "dsc_decided_within_15_days": None
                if amendment.decided_on is None
                else amendment.decided_on <= deadlines.last_day(amendment.requested_at, zone),
            }
        )
    approved = request.history.filter(kind=ReasonedRequestEvent.Kind.APPROVED).first()
    return {
        "time_zone": request.time_zone,
        "rule": (
            f"Amendment window: the {AMENDMENT_WINDOW_DAYS} calendar days after the day of receipt, in the DSC's "
            "zone, ending at local midnight (DSA Art. 40(5)); the DSC decides within 15 days (Art. 40(6))."
        ),
        "received_at": _iso(request.received_at),
        "received_local": request.received_at.astimezone(zone).isoformat(),
        "amendment_window_closes_at": _iso(closes),
        "amendment_window_closes_local": closes.astimezone(zone).isoformat(),
        "amendment_requests": amendments,
        "all_amendment_requests_within_window": all(a["within_amendment_window"] for a in amendments),
        "approved_at": _iso(approved.at) if approved else None,
        "reminders": [
            {
                "threshold_days": r.threshold_days,
                "days_left": r.days_left,
                "sent_at": _iso(r.sent_at),
                "recipients": r.recipients,
            }
            for r in request.reminders.all()
        ],
    }


def _amendments_section(request: ReasonedRequest) -> list[dict]:
    return [
        {
            "id": a.pk,
            "ground": a.ground,
            "ground_text": a.get_ground_display(),
            "explanation": a.explanation,
            "alternatives_proposed": a.alternatives,
            "requested_at": _iso(a.requested_at),
            "requested_by": _person(a.requested_by),
            "dsc_decision": a.decision or None,
            "dsc_decided_on": _iso(a.decided_on),
            "dsc_decision_note": a.decision_note,
            "decision_recorded_at": _iso(a.decision_recorded_at),
            "decision_recorded_by": _person(a.decision_recorded_by),
        }
        for a in request.amendments.select_related("requested_by", "decision_recorded_by")
    ]


def _history_section(request: ReasonedRequest) -> list[dict]:
    return [
        {"at": _iso(e.at), "kind": e.kind, "actor": _person(e.actor), "note": e.note, "detail": e.detail}
        for e in request.history.select_related("actor")
    ]


def _application_section(application: ResearchApplication | None) -> dict | None:
    if application is None:
        return None
    return {
        "id": application.pk,
        "title": application.title,
        "status": application.status,
        "principal_researcher": application.principal_researcher.user.get_username(),
        "submitted_at": _iso(application.submitted_at),
        "decided_at": _iso(application.decided_at),
        "history": [
            {"at": _iso(t.at), "from": t.from_status, "to": t.to_status, "actor": _person(t.actor), "reason": t.reason}
            for t in application.history.select_related("actor").order_by("at", "pk")
        ],
    }


def _grant_section(grant: AccessGrant) -> dict:
    return {
        "id": grant.pk,
        "status": grant.status,
        "dsc_reference": grant.dsc_reference or None,
        "datasets": sorted(d.slug for d in grant.datasets.all()),
        "modality": grant.modality,
        "valid_from": _iso(grant.valid_from),
        "valid_until": _iso(grant.valid_until),
        "data_limits": {k: _iso(v) for k, v in grant.data_limits.items()} if grant.data_limits else None,
        "quotas": grant.quotas,
        "created_at": _iso(grant.created_at),
        "changes": [
            {
                "id": e.pk,
                "at": _iso(e.at),
                "kind": e.kind,
                "actor": _person(e.actor),
                "from_status": e.from_status,
                "to_status": e.to_status,
                "reason": e.reason,
            }
            for e in grant.history.select_related("actor").exclude(kind=GrantEvent.Kind.SECRET_ROTATED)
        ],
    }


def _credentials_section(grant: AccessGrant) -> dict:
    """Which credentials existed and when: identifiers and times only."""
    return {
        "client_id": grant.oauth_client.client_id,
        "secret_first_issued_at": _iso(
            grant.history.filter(kind=GrantEvent.Kind.SECRET_ROTATED).values_list("at", flat=True).first()
        ),
        "secret_events": [
            {"id": e.pk, "at": _iso(e.at), "actor": _person(e.actor), "reason": e.reason}
            for e in grant.history.select_related("actor").filter(kind=GrantEvent.Kind.SECRET_ROTATED)
        ],
        # Tokens are deleted when a secret is rotated or the grant suspended; the access events
        # below name every request made with any of them.
        "access_tokens_unexpired_or_kept": [
            {"id": t.pk, "created": _iso(t.created), "expires": _iso(t.expires), "scope": t.scope}
            for t in AccessToken.objects.filter(application_id=grant.oauth_client_id).order_by("pk")
        ],
    }


def _event_row(event: AccessEvent) -> dict:
    # Exactly what the hash covers (platform_api.audit.canonical), plus id and the two hashes.
    covered = json.loads(canonical(event))
    return {"id": event.pk, **covered, "prev_hash": event.prev_hash, "hash": event.hash}


def _checkpoint_check() -> dict:
    """The log against its last signed checkpoint: deleting a grant's newest events leaves the rest of
    the chain intact in itself, so only the checkpoint (count and head it signed) shows the truncation."""
    checkpoint, problem = check_against_checkpoints(read_checkpoints())
    return {
        "ok": not problem,
        "problem": problem,
        "last_checkpoint": {k: checkpoint.get(k) for k in ("at", "count", "last_id", "head_hash")}
        if checkpoint
        else None,
    }


def _access_events(grant: AccessGrant) -> tuple[dict, list[dict], list[dict]]:
    seal_chain()  # events are sealed after the request that wrote them (platform_api.audit)
    checkpoints = _checkpoint_check()
    own = AccessEvent.objects.of_grant(grant).order_by("id")
    bounds = own.values_list("id", flat=True)
    first_id, last_id = bounds.first(), own.order_by("-id").values_list("id", flat=True).first()
    if first_id is None:
        summary = {
            "count": 0,
            "first_id": None,
            "last_id": None,
            "verification": {
                "ok": checkpoints["ok"],
                "checked": 0,
                "reason": checkpoints["problem"] or "no access events",
                "anchored": True,
                "checkpoints": checkpoints,
            },
        }
        return summary, [], []
    first = AccessEvent.objects.get(pk=first_id)
    in_range = AccessEvent.objects.filter(id__gte=first_id, id__lte=last_id).order_by("id")
    result = verify_chain(in_range.iterator(chunk_size=5000), prev_hash=first.prev_hash)
    before = AccessEvent.objects.filter(id__lt=first_id).order_by("-id").values_list("hash", flat=True).first()
    anchored = first.prev_hash == (before or GENESIS)
    whole = verify_chain(AccessEvent.objects.filter(id__lte=last_id).order_by("id").iterator(chunk_size=5000))
    rows = [_event_row(e) for e in own.iterator(chunk_size=5000)]
    chain = [
        {"id": pk, "prev_hash": prev, "hash": digest, "own": grant_id == grant.pk}
        for pk, prev, digest, grant_id in in_range.values_list("id", "prev_hash", "hash", "grant_id")
    ]
    summary = {
        "count": len(rows),
        "first_id": first_id,
        "last_id": last_id,
        "first_at": rows[0]["occurred_at"],
        "last_at": rows[-1]["occurred_at"],
        "rows_returned": sum(r["rows_returned"] for r in rows),
        "verification": {
            "ok": result.ok and anchored and whole.ok and checkpoints["ok"],
            "range_ok": result.ok,
            "checkpoints": checkpoints,
            "checked": result.checked,
            "anchored": anchored,
            "anchor_prev_hash": first.prev_hash,
            "head_hash": chain[-1]["hash"],
            "from_genesis_ok": whole.ok,
            "from_genesis_checked": whole.checked,
            "first_broken_id": (result.first_broken or whole.first_broken).pk
            if (result.first_broken or whole.first_broken)
            else None,
            "reason": result.reason or whole.reason or checkpoints["problem"],
            "how": (
                "For each line of access-events.jsonl, sha256(prev_hash + canonical JSON of the other fields but "
                "id and hash, keys sorted, separators ',' and ':') equals hash; in audit-chain.jsonl each prev_hash "
                "equals the hash of the line before it."
            ),
        },
    }
    return summary, rows, chain


def _file_sha256(name: str) -> str | None:
    storage = export_storage()
    try:
        with storage.open(name, "rb") as handle:
            digest = hashlib.sha256()
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
            return digest.hexdigest()
    except (FileNotFoundError, OSError):
        return None


def _exports_section(grant: AccessGrant) -> list[dict]:
    exports = []
    for export in Export.objects.filter(grant=grant).select_related("release__dataset").order_by("created_at"):
        present = _file_sha256(export.file_name) if export.file_name and export.status == Export.Status.READY else None
        exports.append(
            {
                "id": str(export.pk),
                "status": export.status,
                "dataset": export.release.dataset.slug,
                "release": export.release.version,
                "format": export.format,
                "created_at": _iso(export.created_at),
                "finished_at": _iso(export.finished_at),
                "expires_at": _iso(export.expires_at),
                "row_count": export.row_count,
                "bytes": export.bytes,
                "sha256": export.sha256 or None,
                "manifest": export.manifest,
                "file": {
                    "present": present is not None,
                    "sha256": present,
                    "matches": None if present is None else present == export.sha256,
                },
            }
        )
    return exports


# --------------------------------------------------------------------------- the file
def build_evidence_file(
    *, reasoned_request: ReasonedRequest | None = None, grant: AccessGrant | None = None, actor=None
) -> EvidenceFile:
    """Assemble the evidence zip for a request and/or its grant; records the export in the request's history."""
    if reasoned_request is None and grant is None:
        raise ValueError("give a reasoned request or a grant")
    if reasoned_request is not None:  # as stored now, whatever the caller's copy says
        reasoned_request = ReasonedRequest.objects.select_related("organisation", "recorded_by").get(
            pk=reasoned_request.pk
        )
        grant = grant or reasoned_request.grant
    application = grant.application if grant is not None else None
    now = timezone.now()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": _iso(now),
        "generated_by": _person(actor) or "manage.py evidence_file",
        "route": "dsc_reasoned_request" if reasoned_request else "platform_vetted",
        "subject": {
            "reasoned_request": reasoned_request.reference if reasoned_request else None,
            "grant": grant.pk if grant else None,
        },
        "reasoned_request": _request_section(reasoned_request) if reasoned_request else None,
        "deadlines": _deadlines_section(reasoned_request) if reasoned_request else None,
        "amendments": _amendments_section(reasoned_request) if reasoned_request else [],
        "request_history": _history_section(reasoned_request) if reasoned_request else [],
        "decision": _application_section(application),
        "grant": _grant_section(grant) if grant else None,
        "credentials": _credentials_section(grant) if grant else None,
    }
    rows: list[dict] = []
    chain: list[dict] = []
    if grant is not None:
        manifest["access_events"], rows, chain = _access_events(grant)
        manifest["exports"] = _exports_section(grant)
    else:
        manifest["access_events"] = {"count": 0, "verification": {"ok": True, "checked": 0, "anchored": True}}
        manifest["exports"] = []

    files: dict[str, bytes] = {
        "access-events.jsonl": "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode(),
        "audit-chain.jsonl": "".join(json.dumps(c, sort_keys=True) + "\n" for c in chain).encode(),
    }
    if reasoned_request is not None and reasoned_request.request_document:
        with reasoned_request.request_document.open("rb") as handle:
            document = handle.read()
        name = manifest["reasoned_request"]["document"]["name"]
        files[f"request-document/{name}"] = document
        manifest["reasoned_request"]["document"]["sha256_now"] = hashlib.sha256(document).hexdigest()
        manifest["reasoned_request"]["document"]["file"] = f"request-document/{name}"
    files["summary.html"] = render_to_string("researchers/evidence/summary.html", {"m": manifest}).encode()
    manifest["files"] = {name: hashlib.sha256(content).hexdigest() for name, content in sorted(files.items())}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
        for name, content in files.items():
            archive.writestr(name, content)
    subject = reasoned_request.reference if reasoned_request else f"grant-{grant.pk}"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in subject)
    evidence = EvidenceFile(filename=f"evidence-{safe}-{now:%Y%m%dT%H%M%SZ}.zip", content=buffer.getvalue(),
                            manifest=manifest)  # fmt: skip
    if reasoned_request is not None:
        ReasonedRequestEvent.objects.create(
            request=reasoned_request,
            kind=ReasonedRequestEvent.Kind.EVIDENCE_EXPORTED,
            actor=actor,
            note=evidence.filename,
            detail={"sha256": evidence.sha256, "verified": evidence.verified},
        )
    logger.info(
        "evidence file exported",
        extra={
            "subject": subject,
            "sha256": evidence.sha256,
            "verified": evidence.verified,
            "actor": _person(actor),
        },
    )
    return evidence
