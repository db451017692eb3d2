from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django_prometheus import exports
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from apps.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", exports.ExportToDjangoView, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path(settings.ADMIN_URL, admin.site.urls),
    path("account/", include("apps.accounts.urls")),
    path("account/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("tariffs/", include("apps.tariffs.urls")),
    path("my/profile/", include("apps.accounts.profile_urls")),
    path("my/contracts/", include("apps.contracts.urls")),
    path("my/usage/", include("apps.portal.usage_urls")),
    path("my/notifications/", include("apps.portal.notification_urls")),
    path("my/requests/", include("apps.service_requests.urls")),
    path("my/billing/", include("apps.billing.urls")),
    path("webhooks/payments/", include("apps.billing.webhook_urls")),
    path("outages/", include("apps.outages.urls")),
    path("staff/requests/", include("apps.service_requests.staff_urls")),
    path("staff/outages/", include("apps.outages.staff_urls")),
    path("staff/operations/", include("apps.portal.ops_urls")),
    path("staff/", include("apps.portal.staff_urls")),
    path("api/v1/metering/", include("apps.metering.api_urls")),
    path("", include("apps.portal.urls")),
]
