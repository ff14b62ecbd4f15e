"""The DSC route (docs/dsa-article-40.md): reasoned requests, named researchers, amendment requests,
their history and deadline reminders; grants' DSC reference and data limits.

The history is immutable in the database, whoever asks (the triggers below):

- ``researchers_reasonedrequest``: never deleted; its identity (reference, DSC, receipt, window,
  document) never changes; once approved or withdrawn nothing changes.
- its datasets (``researchers_reasonedrequest_datasets``): frozen once approved or withdrawn.
- ``researchers_namedresearcher``: never deleted; who was named never changes; a linked account
  and the acceptance are set once.
- ``researchers_amendmentrequest``: never deleted or edited; the DSC's decision is filled in once.
- ``researchers_reasonedrequestevent`` and ``researchers_deadlinereminder``: append-only.

References to staff users may still become NULL (ON DELETE SET NULL when a user is deleted).
TRUNCATE of the append-only tables fails unless the session sets platform.allow_truncate (only
the test suite does, as for access events).
"""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import researchers.reasoned_requests.models

SQL = r"""
CREATE OR REPLACE FUNCTION researchers_refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'insufficient_privilege';
END $$;

-- Append-only rows: TG_ARGV lists the columns (people) that may only ever become NULL.
CREATE OR REPLACE FUNCTION researchers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    people text[] := coalesce(TG_ARGV::text[], ARRAY[]::text[]);
    person text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF current_setting('platform.allow_truncate', true) = 'on' THEN RETURN NULL; END IF;
        PERFORM researchers_refuse(format('%s is append-only (TRUNCATE refused)', TG_TABLE_NAME));
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM researchers_refuse(format('%s is append-only (DELETE refused)', TG_TABLE_NAME));
    END IF;
    IF (to_jsonb(NEW) - people) IS DISTINCT FROM (to_jsonb(OLD) - people) THEN
        PERFORM researchers_refuse(format('%s is append-only (UPDATE refused)', TG_TABLE_NAME));
    END IF;
    FOREACH person IN ARRAY people LOOP
        IF to_jsonb(NEW) -> person <> 'null'::jsonb AND to_jsonb(NEW) -> person IS DISTINCT FROM to_jsonb(OLD) -> person THEN
            PERFORM researchers_refuse(format('%s is append-only (%s may only become NULL)', TG_TABLE_NAME, person));
        END IF;
    END LOOP;
    RETURN NEW;
END $$;

CREATE TRIGGER researchers_reasonedrequestevent_append_only
    BEFORE UPDATE OR DELETE ON researchers_reasonedrequestevent
    FOR EACH ROW EXECUTE FUNCTION researchers_append_only('actor_id');
CREATE TRIGGER researchers_reasonedrequestevent_no_truncate
    BEFORE TRUNCATE ON researchers_reasonedrequestevent
    FOR EACH STATEMENT EXECUTE FUNCTION researchers_append_only();
CREATE TRIGGER researchers_deadlinereminder_append_only
    BEFORE UPDATE OR DELETE ON researchers_deadlinereminder
    FOR EACH ROW EXECUTE FUNCTION researchers_append_only();
CREATE TRIGGER researchers_deadlinereminder_no_truncate
    BEFORE TRUNCATE ON researchers_deadlinereminder
    FOR EACH STATEMENT EXECUTE FUNCTION researchers_append_only();
CREATE TRIGGER researchers_amendmentrequest_no_truncate
    BEFORE TRUNCATE ON researchers_amendmentrequest
    FOR EACH STATEMENT EXECUTE FUNCTION researchers_append_only();

-- An amendment request never changes; the DSC's decision is recorded once, complete, and then frozen.
CREATE OR REPLACE FUNCTION researchers_amendment_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    people text[] := ARRAY['requested_by_id', 'decision_recorded_by_id'];
    decision text[] := ARRAY['decision', 'decided_on', 'decision_note', 'decision_recorded_at'];
    person text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM researchers_refuse('amendment requests are never deleted');
    END IF;
    IF (to_jsonb(NEW) - people - decision) IS DISTINCT FROM (to_jsonb(OLD) - people - decision) THEN
        PERFORM researchers_refuse(format('amendment request %s cannot change', OLD.id));
    END IF;
    IF OLD.decision <> '' THEN
        IF (to_jsonb(NEW) - people) IS DISTINCT FROM (to_jsonb(OLD) - people) THEN
            PERFORM researchers_refuse(format('the DSC decision on amendment request %s is recorded and cannot change', OLD.id));
        END IF;
    ELSIF NEW.decision <> '' AND (NEW.decided_on IS NULL OR NEW.decision_recorded_at IS NULL) THEN
        PERFORM researchers_refuse('a DSC decision needs its date');
    ELSIF NEW.decision = '' AND (to_jsonb(NEW) - people) IS DISTINCT FROM (to_jsonb(OLD) - people) THEN
        PERFORM researchers_refuse('record the DSC decision with its date, all at once');
    END IF;
    FOREACH person IN ARRAY people LOOP
        IF to_jsonb(NEW) -> person <> 'null'::jsonb AND to_jsonb(NEW) -> person IS DISTINCT FROM to_jsonb(OLD) -> person
           AND NOT (person = 'decision_recorded_by_id' AND OLD.decision = '') THEN
            PERFORM researchers_refuse(format('%s of amendment request %s may only become NULL', person, OLD.id));
        END IF;
    END LOOP;
    RETURN NEW;
END $$;

CREATE TRIGGER researchers_amendmentrequest_guard
    BEFORE UPDATE OR DELETE ON researchers_amendmentrequest
    FOR EACH ROW EXECUTE FUNCTION researchers_amendment_guard();

-- A request's identity never changes; once approved or withdrawn nothing does.
CREATE OR REPLACE FUNCTION researchers_reasoned_request_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    identity text[] := ARRAY['id', 'reference', 'dsc_member_state', 'dsc_authority', 'time_zone', 'received_at',
                             'amendment_window_closes_at', 'request_document', 'request_document_sha256', 'created_at'];
    name text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM researchers_refuse(format('reasoned request %s is never deleted', OLD.reference));
    END IF;
    FOREACH name IN ARRAY identity LOOP
        IF to_jsonb(NEW) -> name IS DISTINCT FROM to_jsonb(OLD) -> name THEN
            PERFORM researchers_refuse(format('%s of reasoned request %s cannot change', name, OLD.reference));
        END IF;
    END LOOP;
    IF NEW.recorded_by_id IS NOT NULL AND NEW.recorded_by_id IS DISTINCT FROM OLD.recorded_by_id THEN
        PERFORM researchers_refuse(format('recorded_by of reasoned request %s may only become NULL', OLD.reference));
    END IF;
    IF OLD.status IN ('approved', 'withdrawn')
       AND (to_jsonb(NEW) - 'recorded_by_id') IS DISTINCT FROM (to_jsonb(OLD) - 'recorded_by_id') THEN
        PERFORM researchers_refuse(format('reasoned request %s is %s: it cannot change', OLD.reference, OLD.status));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER researchers_reasonedrequest_guard
    BEFORE UPDATE OR DELETE ON researchers_reasonedrequest
    FOR EACH ROW EXECUTE FUNCTION researchers_reasoned_request_guard();

CREATE OR REPLACE FUNCTION researchers_reasoned_request_datasets_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    request_id bigint;
    request_status text;
BEGIN
    IF TG_OP = 'DELETE' THEN request_id := OLD.reasonedrequest_id; ELSE request_id := NEW.reasonedrequest_id; END IF;
    SELECT status INTO request_status FROM researchers_reasonedrequest WHERE id = request_id;
    IF request_status IN ('approved', 'withdrawn') THEN
        PERFORM researchers_refuse(format('the datasets of reasoned request %s are final', request_id));
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER researchers_reasonedrequest_datasets_guard
    BEFORE INSERT OR UPDATE OR DELETE ON researchers_reasonedrequest_datasets
    FOR EACH ROW EXECUTE FUNCTION researchers_reasoned_request_datasets_guard();

-- Who was named never changes; the linked account and the acceptance are set once.
CREATE OR REPLACE FUNCTION researchers_named_researcher_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM researchers_refuse('researchers named in a reasoned request are never removed');
    END IF;
    IF NEW.request_id <> OLD.request_id OR NEW.name <> OLD.name OR NEW.email <> OLD.email
       OR NEW.is_principal <> OLD.is_principal THEN
        PERFORM researchers_refuse(format('named researcher %s cannot change', OLD.id));
    END IF;
    IF OLD.researcher_id IS NOT NULL AND NEW.researcher_id IS DISTINCT FROM OLD.researcher_id THEN
        PERFORM researchers_refuse(format('the account of named researcher %s is linked for good', OLD.id));
    END IF;
    IF OLD.accepted_at IS NOT NULL AND NEW.accepted_at IS DISTINCT FROM OLD.accepted_at THEN
        PERFORM researchers_refuse(format('named researcher %s accepted already', OLD.id));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER researchers_namedresearcher_guard
    BEFORE UPDATE OR DELETE ON researchers_namedresearcher
    FOR EACH ROW EXECUTE FUNCTION researchers_named_researcher_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS researchers_namedresearcher_guard ON researchers_namedresearcher;
DROP FUNCTION IF EXISTS researchers_named_researcher_guard();
DROP TRIGGER IF EXISTS researchers_reasonedrequest_datasets_guard ON researchers_reasonedrequest_datasets;
DROP FUNCTION IF EXISTS researchers_reasoned_request_datasets_guard();
DROP TRIGGER IF EXISTS researchers_reasonedrequest_guard ON researchers_reasonedrequest;
DROP FUNCTION IF EXISTS researchers_reasoned_request_guard();
DROP TRIGGER IF EXISTS researchers_amendmentrequest_guard ON researchers_amendmentrequest;
DROP FUNCTION IF EXISTS researchers_amendment_guard();
DROP TRIGGER IF EXISTS researchers_amendmentrequest_no_truncate ON researchers_amendmentrequest;
DROP TRIGGER IF EXISTS researchers_deadlinereminder_no_truncate ON researchers_deadlinereminder;
DROP TRIGGER IF EXISTS researchers_deadlinereminder_append_only ON researchers_deadlinereminder;
DROP TRIGGER IF EXISTS researchers_reasonedrequestevent_no_truncate ON researchers_reasonedrequestevent;
DROP TRIGGER IF EXISTS researchers_reasonedrequestevent_append_only ON researchers_reasonedrequestevent;
DROP FUNCTION IF EXISTS researchers_append_only();
DROP FUNCTION IF EXISTS researchers_refuse(text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("moderation_data", "0100_exports"),
        ("researchers", "0003_drafts_countries_email_verification"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="accessgrant",
            name="data_fields",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=64),
                blank=True,
                default=list,
                help_text="Only these fields (empty: all).",
                size=None,
            ),
        ),
        migrations.AddField(
            model_name="accessgrant",
            name="data_from",
            field=models.DateField(blank=True, help_text="Only decisions on or after this day.", null=True),
        ),
        migrations.AddField(
            model_name="accessgrant",
            name="data_until",
            field=models.DateField(blank=True, help_text="Only decisions on or before this day.", null=True),
        ),
        migrations.AddField(
            model_name="accessgrant",
            name="dsc_reference",
            field=models.CharField(blank=True, db_index=True, max_length=100, verbose_name="DSC request reference"),
        ),
        migrations.CreateModel(
            name="ReasonedRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "reference",
                    models.CharField(
                        help_text="The DSC's reference of the request, e.g. IE-CNAM-2026-0042.",
                        max_length=100,
                        unique=True,
                    ),
                ),
                (
                    "dsc_member_state",
                    models.CharField(
                        choices=[
                            ("AT", "AT"),
                            ("BE", "BE"),
                            ("BG", "BG"),
                            ("CY", "CY"),
                            ("CZ", "CZ"),
                            ("DE", "DE"),
                            ("DK", "DK"),
                            ("EE", "EE"),
                            ("ES", "ES"),
                            ("FI", "FI"),
                            ("FR", "FR"),
                            ("GR", "GR"),
                            ("HR", "HR"),
                            ("HU", "HU"),
                            ("IE", "IE"),
                            ("IT", "IT"),
                            ("LT", "LT"),
                            ("LU", "LU"),
                            ("LV", "LV"),
                            ("MT", "MT"),
                            ("NL", "NL"),
                            ("PL", "PL"),
                            ("PT", "PT"),
                            ("RO", "RO"),
                            ("SE", "SE"),
                            ("SI", "SI"),
                            ("SK", "SK"),
                        ],
                        max_length=2,
                        verbose_name="DSC member state",
                    ),
                ),
                (
                    "dsc_authority",
                    models.CharField(help_text="e.g. Coimisiún na Meán", max_length=200, verbose_name="DSC authority"),
                ),
                (
                    "time_zone",
                    models.CharField(help_text="The DSC's zone: the window counts its calendar days.", max_length=64),
                ),
                ("received_at", models.DateTimeField(help_text="When the request reached the platform.")),
                (
                    "amendment_window_closes_at",
                    models.DateTimeField(
                        db_index=True, help_text="End of the 15th day after receipt, in the DSC's zone (Art. 40(5))."
                    ),
                ),
                ("title", models.CharField(max_length=300, verbose_name="project title")),
                ("research_purpose", models.TextField()),
                (
                    "systemic_risk_areas",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(
                            choices=researchers.reasoned_requests.models._systemic_risk_choices, max_length=40
                        ),
                        default=list,
                        size=None,
                    ),
                ),
                (
                    "fields_requested",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=64),
                        blank=True,
                        default=list,
                        help_text="Codebook fields; empty means all.",
                        size=None,
                    ),
                ),
                (
                    "data_from",
                    models.DateField(help_text="First day of the decisions requested.", verbose_name="data from"),
                ),
                (
                    "data_until",
                    models.DateField(help_text="Last day of the decisions requested.", verbose_name="data until"),
                ),
                (
                    "modality",
                    models.CharField(choices=researchers.reasoned_requests.models._modality_choices, max_length=32),
                ),
                ("access_from", models.DateField(verbose_name="access from")),
                ("access_until", models.DateField(verbose_name="access until")),
                ("security_requirements", models.TextField(blank=True)),
                ("confidentiality_requirements", models.TextField(blank=True)),
                (
                    "request_document",
                    models.FileField(
                        blank=True,
                        storage=researchers.reasoned_requests.models.request_document_storage,
                        upload_to="%Y/",
                    ),
                ),
                ("request_document_sha256", models.CharField(blank=True, max_length=64)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("received", "Received (assessing)"),
                            ("amendment_requested", "Amendment requested (awaiting the DSC)"),
                            ("approved", "Approved (grant issued)"),
                            ("withdrawn", "Withdrawn by the DSC"),
                        ],
                        db_index=True,
                        default="received",
                        max_length=24,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "application",
                    models.OneToOneField(
                        blank=True,
                        help_text="The approved application (and grant) this request became.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reasoned_request",
                        to="researchers.researchapplication",
                    ),
                ),
                (
                    "datasets",
                    models.ManyToManyField(
                        related_name="+", to="moderation_data.dataset", verbose_name="datasets requested"
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reasoned_requests",
                        to="researchers.organisation",
                    ),
                ),
                (
                    "recorded_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-received_at"],
            },
        ),
        migrations.CreateModel(
            name="NamedResearcher",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("email", models.EmailField(max_length=254)),
                ("orcid", models.CharField(blank=True, max_length=19, verbose_name="ORCID iD")),
                ("affiliation", models.CharField(blank=True, max_length=200)),
                ("is_principal", models.BooleanField(default=False, help_text="Collects the grant's credentials.")),
                ("invitation_digest", models.CharField(blank=True, max_length=64)),
                ("invited_at", models.DateTimeField(blank=True, null=True)),
                ("accepted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "researcher",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="dsc_nominations",
                        to="researchers.researcher",
                    ),
                ),
                (
                    "request",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="researchers",
                        to="researchers.reasonedrequest",
                    ),
                ),
            ],
            options={
                "ordering": ["-is_principal", "name", "pk"],
            },
        ),
        migrations.CreateModel(
            name="DeadlineReminder",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("threshold_days", models.PositiveSmallIntegerField()),
                ("days_left", models.PositiveSmallIntegerField(help_text="Days left when it was sent.")),
                ("sent_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("recipients", models.PositiveIntegerField(default=0)),
                (
                    "request",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reminders",
                        to="researchers.reasonedrequest",
                    ),
                ),
            ],
            options={
                "ordering": ["sent_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="AmendmentRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "ground",
                    models.CharField(
                        choices=[
                            ("no_access", "The provider does not have access to the data (Art. 40(5)(a))"),
                            (
                                "vulnerability",
                                "Access would create significant vulnerabilities for the security of the service or the protection of confidential information (Art. 40(5)(b))",
                            ),
                        ],
                        max_length=20,
                    ),
                ),
                ("explanation", models.TextField(help_text="Why the ground applies.")),
                ("alternatives", models.TextField(help_text="Alternative means or data proposed (Art. 40(6)).")),
                ("requested_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "decision",
                    models.CharField(
                        blank=True,
                        choices=[("amended", "Amended the request"), ("confirmed", "Confirmed the request unchanged")],
                        max_length=16,
                    ),
                ),
                ("decided_on", models.DateField(blank=True, null=True, verbose_name="DSC decision date")),
                ("decision_note", models.TextField(blank=True)),
                ("decision_recorded_at", models.DateTimeField(blank=True, null=True)),
                (
                    "decision_recorded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "request",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="amendments",
                        to="researchers.reasonedrequest",
                    ),
                ),
            ],
            options={
                "ordering": ["requested_at", "pk"],
            },
        ),
        migrations.CreateModel(
            name="ReasonedRequestEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("recorded", "Recorded"),
                            ("researcher_linked", "Researcher's account linked"),
                            ("invitation_sent", "Invitation sent"),
                            ("invitation_accepted", "Invitation accepted (account created)"),
                            ("amendment_requested", "Amendment requested"),
                            ("dsc_decision", "DSC decision recorded"),
                            ("approved", "Approved (grant issued)"),
                            ("withdrawn", "Withdrawn by the DSC"),
                            ("reminder_sent", "Deadline reminder sent"),
                            ("evidence_exported", "Evidence file exported"),
                        ],
                        max_length=24,
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                ("note", models.TextField(blank=True)),
                ("detail", models.JSONField(blank=True, default=dict)),
                (
                    "actor",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "request",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="history",
                        to="researchers.reasonedrequest",
                    ),
                ),
            ],
            options={
                "ordering": ["at", "pk"],
            },
        ),
        migrations.AddConstraint(
            model_name="reasonedrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("data_until__gte", models.F("data_from"))), name="dsc_data_period"
            ),
        ),
        migrations.AddConstraint(
            model_name="reasonedrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("access_until__gte", models.F("access_from"))), name="dsc_access_period"
            ),
        ),
        migrations.AddConstraint(
            model_name="reasonedrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("amendment_window_closes_at__gt", models.F("received_at"))), name="dsc_window"
            ),
        ),
        migrations.AddConstraint(
            model_name="namedresearcher",
            constraint=models.UniqueConstraint(fields=("request", "email"), name="dsc_researcher_unique_email"),
        ),
        migrations.AddConstraint(
            model_name="namedresearcher",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_principal", True)), fields=("request",), name="dsc_one_principal"
            ),
        ),
        migrations.AddConstraint(
            model_name="deadlinereminder",
            constraint=models.UniqueConstraint(
                fields=("request", "threshold_days"), name="dsc_reminder_once_per_threshold"
            ),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
