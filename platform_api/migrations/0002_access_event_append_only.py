from django.db import migrations

# UPDATE and DELETE of access events fail in the database, whoever asks. TRUNCATE fails
# too unless the session sets platform.allow_truncate (only the test suite's flush does).
SQL = """
CREATE OR REPLACE FUNCTION platform_access_event_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND current_setting('platform.allow_truncate', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'access events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER access_event_append_only
  BEFORE UPDATE OR DELETE ON platform_api_accessevent
  FOR EACH ROW EXECUTE FUNCTION platform_access_event_append_only();
CREATE TRIGGER access_event_no_truncate
  BEFORE TRUNCATE ON platform_api_accessevent
  FOR EACH STATEMENT EXECUTE FUNCTION platform_access_event_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS access_event_no_truncate ON platform_api_accessevent;
DROP TRIGGER IF EXISTS access_event_append_only ON platform_api_accessevent;
DROP FUNCTION IF EXISTS platform_access_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("platform_api", "0001_access_event")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
