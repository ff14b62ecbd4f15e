from django.db import migrations

DATASETS = [
    {
        "slug": "moderation-decisions",
        "title": "Moderation decisions",
        "description": (
            "Row-level, anonymized moderation decisions (removals, restrictions, bans) in the DSA "
            "statement-of-reasons vocabulary, with policy, detection source, appeals and reinstatements."
        ),
        "sensitivity": "restricted",
        "level": "row",
        "k_anonymity": 10,
    },
    {
        "slug": "enforcement-summary",
        "title": "Enforcement summary",
        "description": (
            "Public aggregate of each release: decisions by month, policy, country, detection source and "
            "action, with small cells suppressed, like a transparency report."
        ),
        "sensitivity": "public",
        "level": "aggregate",
        "k_anonymity": 10,
    },
]


def create(apps, schema_editor):
    Dataset = apps.get_model("moderation_data", "Dataset")
    for data in DATASETS:
        Dataset.objects.update_or_create(slug=data["slug"], defaults=data)


class Migration(migrations.Migration):
    dependencies = [("moderation_data", "0001_dataset")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
