"""shred_project_keys: destroy a project's pseudonym keys (crypto-shredding, docs/pseudonyms.md).

Afterwards nothing, PSEUDONYM_KEY included, can recompute the pseudonyms the project received: a
project whose grant is still usable gets a fresh key on its next request, an ended one is refused.
The destruction is recorded in the audit log.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from moderation_data.releases.project_keys import shred_project_keys
from researchers.models import ResearchApplication


class Command(BaseCommand):
    help = "Destroy the pseudonym keys of a project (its research application id): its pseudonyms become unlinkable."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project", type=int, help="the project's id (the research application id, /me project.id)")
        parser.add_argument("--reason", default="", help="why (kept in the audit log)")

    def handle(self, *args, project: int, reason: str, **options) -> None:
        found = ResearchApplication.objects.filter(pk=project).first()
        if found is None:
            raise CommandError(f"No project with id {project}.")
        destroyed = shred_project_keys(found, actor="manage.py shred_project_keys", reason=reason)
        self.stdout.write(f"Destroyed {destroyed} pseudonym key(s) of project {project}.")
