"""Email backends."""

import sys

from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend


class StderrConsoleBackend(ConsoleEmailBackend):
    """Prints emails to stderr, so commands' standard output (e.g. `--json`) stays machine-readable."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("stream", sys.stderr)
        super().__init__(*args, **kwargs)
