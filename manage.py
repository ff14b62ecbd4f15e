#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

From a checkout, commands use the servers named by DATABASE_URL / REDIS_URL, else the embedded
ones under .local/ (started if not running, shared if they are; see platform_api/embedded.py).
Against the embedded servers nothing needs setting by hand, DJANGO_DEBUG included (README.md,
"Operators"): the checkout's development defaults below fill whatever the environment leaves unset.
"""

import os
import sys

# What a checkout on the embedded servers needs beyond its secrets: local host names, plain HTTP
# (runserver, the demo's port), the same as `make demo` gives its children.
CHECKOUT_DEFAULTS = {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,[::1]",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_SESSION_COOKIE_SECURE": "false",
    "DJANGO_CSRF_COOKIE_SECURE": "false",
    "DJANGO_SECURE_HSTS_SECONDS": "0",
}


def use_checkout_defaults(environ=os.environ) -> None:
    """Fill the development defaults a checkout on the embedded servers needs (never over a set value)."""
    for name, value in CHECKOUT_DEFAULTS.items():
        if not (environ.get(name) or "").strip():
            environ[name] = value


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")
    try:
        from platform_api import embedded
    except ImportError:  # an installation without the embedded servers: the URLs must be set
        embedded = None
    if embedded is not None and embedded.available():
        on_embedded = not (os.environ.get("DATABASE_URL") or "").strip()
        embedded.use_embedded_servers_if_unset()
        if on_embedded:
            use_checkout_defaults()
            # The checkout's random pseudonym key under .local/ (docs/pseudonyms.md), never a constant.
            from platform_api import local_secrets

            local_secrets.use_local_pseudonym_key_if_unset(embedded.LOCAL_DIR)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
