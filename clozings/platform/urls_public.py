"""URLs of the platform host (the public schema)."""

from django.urls import include, path

from clozings.billing import urls as billing_urls
from clozings.crm import urls as crm_urls
from clozings.distribution import urls as distribution_urls
from clozings.platform import views
from clozings.platform.console import urls as console_urls
from clozings.platform.urls_common import common
from clozings.tenants import urls as tenants_urls
from clozings.territories import urls as territories_urls

urlpatterns = [
    *common,
    path("", include(tenants_urls.public)),
    path("", include(territories_urls.public)),
    path("", include(billing_urls.public)),
    path("", include(distribution_urls.public)),
    path("", include(crm_urls.public)),
    path("", include(console_urls.public)),
]

handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.not_found
handler500 = views.server_error
