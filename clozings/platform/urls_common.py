"""URLs that every host serves: health, the OpenAPI schema."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from clozings.platform import health

common = [
    path("healthz", health.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
