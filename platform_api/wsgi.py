import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_api.settings")
application = get_wsgi_application()

# Web processes bind every statement by the query timeout (platform_api.dataapi): fewer round trips.
from platform_api.dataapi import use_session_statement_timeout  # noqa: E402

use_session_statement_timeout()
