"""URLs that every host serves: health, the OpenAPI schema."""

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView

from clozings.platform import health


class HostSchemaView(SpectacularAPIView):
    """The OpenAPI schema of the host asked: the platform host's endpoints on the platform
    host, a brokerage host's on a brokerage host.

    drf-spectacular walks settings.ROOT_URLCONF unless told otherwise; the tenancy
    middleware puts the host's URL conf on request.urlconf, so that is the one to walk.
    """

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        self.urlconf = getattr(request, "urlconf", None) or settings.ROOT_URLCONF
        return super().get(request, *args, **kwargs)


common = [
    path("healthz", health.healthz, name="healthz"),
    path("api/schema/", HostSchemaView.as_view(), name="schema"),
]
