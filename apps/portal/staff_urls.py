"""Staff pages outside the admin, mounted at /staff/."""

from django.urls import path

from apps.portal import staff

urlpatterns = [
    path("customers/<int:customer_id>/", staff.customer_360, name="staff_customer_360"),
]
