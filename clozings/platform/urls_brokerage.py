"""URLs of a brokerage host (`<slug>.<platform domain>`, the brokerage's schema)."""

from django.urls import include, path

from clozings.platform import views
from clozings.platform.urls_common import common
from clozings.tenants import urls as tenants_urls

urlpatterns = [
    *common,
    path("", include(tenants_urls.brokerage)),
]

handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.not_found
handler500 = views.server_error
