#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

From a checkout, commands use the servers named by DATABASE_URL / REDIS_URL, else the embedded
ones under .local/ (started if not running, shared if they are; see platform_api/embedded.py).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")
    try:
        from platform_api import embedded
    except ImportError:  # an installation without the embedded servers: the URLs must be set
        embedded = None
    if embedded is not None and embedded.available():
        embedded.use_embedded_servers_if_unset()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
