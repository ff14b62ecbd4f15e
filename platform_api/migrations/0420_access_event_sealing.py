from django.db import migrations, models

# Events are inserted unsealed and sealed once by platform_api.audit.seal_chain: the trigger now
# lets an UPDATE through only when it sets an unsealed event's prev_hash, hash and mac (from empty,
# or for events sealed before keyed seals existed, keeping their hashes) and changes nothing else.
SQL = """
CREATE OR REPLACE FUNCTION platform_access_event_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND current_setting('platform.allow_truncate', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.mac IS NULL AND NEW.mac IS NOT NULL AND NEW.hash IS NOT NULL
     AND NEW.prev_hash IS NOT NULL
     AND (OLD.hash IS NULL OR (OLD.hash = NEW.hash AND OLD.prev_hash IS NOT DISTINCT FROM NEW.prev_hash))
     AND (to_jsonb(NEW) - 'prev_hash' - 'hash' - 'mac') = (to_jsonb(OLD) - 'prev_hash' - 'hash' - 'mac') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'access events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""

REVERSE = """
CREATE OR REPLACE FUNCTION platform_access_event_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' AND current_setting('platform.allow_truncate', true) = 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'access events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("platform_api", "0003_access_event_reference")]
    operations = [
        migrations.AlterField(
            model_name="accessevent",
            name="prev_hash",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="accessevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="accessevent",
            name="mac",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="accessevent",
            name="bytes_returned",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
