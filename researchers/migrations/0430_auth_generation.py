"""The authorization generation: one counter that every change to what a token may do moves.

Web processes cache a token with its client, grant, scopes and visible datasets for as long as
this number is unchanged (researchers.authentication). Statement-level triggers bump it in the
changing transaction itself, so the new number becomes visible exactly when the change does
(a reader can never pair the new number with old rows), and inside a transaction that has not
committed yet the change is seen at once by that transaction. New tokens do not move it (a new
token is never in anyone's cache); changed or deleted ones do.
"""

from django.db import migrations

TABLES = {
    "oauth2_provider_accesstoken": "UPDATE OR DELETE OR TRUNCATE",
    "oauth2_provider_application": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "researchers_accessgrant": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "researchers_accessgrant_datasets": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "moderation_data_dataset": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}

FORWARD = [
    """CREATE TABLE researchers_authgeneration (
           id smallint PRIMARY KEY CHECK (id = 1),
           n bigint NOT NULL
       )""",
    "INSERT INTO researchers_authgeneration (id, n) VALUES (1, 0)",
    """CREATE FUNCTION researchers_bump_auth_generation() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           UPDATE researchers_authgeneration SET n = n + 1 WHERE id = 1;
           RETURN NULL;
       END $$""",
    *(
        f"CREATE TRIGGER researchers_auth_generation AFTER {events} ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION researchers_bump_auth_generation()"
        for table, events in TABLES.items()
    ),
]
BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS researchers_auth_generation ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS researchers_bump_auth_generation()",
    "DROP TABLE IF EXISTS researchers_authgeneration",
]


class Migration(migrations.Migration):
    dependencies = [
        ("researchers", "0400_longitudinal_linkage"),
        ("moderation_data", "0300_aggregates"),
        ("oauth2_provider", "__latest__"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
