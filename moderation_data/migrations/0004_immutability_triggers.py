"""Published releases are immutable in the database itself, not only in Python.

- ``moderation_data_release``: once published (or withdrawn) a release's row may change only by
  being withdrawn (status, withdrawn_at, withdrawn_reason); it can never be deleted.
- each release's rows table gets ``moderation_data_frozen`` triggers when it is published (see
  ``moderation_data.releases.build``): any INSERT, UPDATE, DELETE or TRUNCATE fails.
- ``moderation_data_enforcementsummarycell``: rows of a published release cannot change.
"""

from django.db import migrations

SQL = r"""
CREATE OR REPLACE FUNCTION moderation_data_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'release rows are immutable: % on %.% is not allowed', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE OR REPLACE FUNCTION moderation_data_release_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status IN ('published', 'withdrawn') THEN
            RAISE EXCEPTION 'release % is published and cannot be deleted', OLD.id USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status IN ('published', 'withdrawn') THEN
        IF NOT (NEW.status = 'withdrawn' OR (OLD.status = 'published' AND NEW.status = 'published')) THEN
            RAISE EXCEPTION 'release % is %: it can only be withdrawn', OLD.id, OLD.status
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF (to_jsonb(NEW) - 'status' - 'withdrawn_at' - 'withdrawn_reason')
           IS DISTINCT FROM (to_jsonb(OLD) - 'status' - 'withdrawn_at' - 'withdrawn_reason') THEN
            RAISE EXCEPTION 'release % is %: its metadata cannot change', OLD.id, OLD.status
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER moderation_data_release_guard
    BEFORE UPDATE OR DELETE ON moderation_data_release
    FOR EACH ROW EXECUTE FUNCTION moderation_data_release_guard();

CREATE OR REPLACE FUNCTION moderation_data_summary_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    release_status text;
BEGIN
    SELECT status INTO release_status FROM moderation_data_release
     WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.release_id ELSE OLD.release_id END;
    IF release_status IN ('published', 'withdrawn') THEN
        RAISE EXCEPTION 'enforcement summary of a published release is immutable' USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER moderation_data_summary_guard
    BEFORE INSERT OR UPDATE OR DELETE ON moderation_data_enforcementsummarycell
    FOR EACH ROW EXECUTE FUNCTION moderation_data_summary_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS moderation_data_summary_guard ON moderation_data_enforcementsummarycell;
DROP FUNCTION IF EXISTS moderation_data_summary_guard();
DROP TRIGGER IF EXISTS moderation_data_release_guard ON moderation_data_release;
DROP FUNCTION IF EXISTS moderation_data_release_guard();
DROP FUNCTION IF EXISTS moderation_data_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("moderation_data", "0003_raw_tier_and_releases")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
