"""Customer contract pages, mounted at /my/contracts/ (config/urls.py)."""

from django.urls import path

from apps.contracts import views

app_name = "contracts"

urlpatterns = [
    path("", views.contract_list, name="list"),
    path("new/", views.sign_up, name="sign_up"),
    path("<int:contract_id>/", views.contract_detail, name="detail"),
    path("<int:contract_id>/cancel/", views.cancel, name="cancel"),
    path("<int:contract_id>/switch/", views.switch, name="switch"),
    path("<int:contract_id>/compare/", views.compare, name="compare"),
]
