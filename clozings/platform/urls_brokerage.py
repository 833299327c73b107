"""URLs of a brokerage host (`<slug>.<platform domain>`, the brokerage's schema)."""

from django.urls import include, path

from clozings.billing import urls as billing_urls
from clozings.crm import urls as crm_urls
from clozings.distribution import urls as distribution_urls
from clozings.platform import home, views
from clozings.platform.urls_common import common
from clozings.tenants import urls as tenants_urls
from clozings.territories import urls as territories_urls

urlpatterns = [
    *common,
    # An agent's home is Today, an admin's the team this week (before tenants' own "").
    path("", home.home, name="home"),
    path("", include(tenants_urls.brokerage)),
    path("", include(territories_urls.brokerage)),
    path("", include(billing_urls.brokerage)),
    path("", include(distribution_urls.brokerage)),
    path("", include(crm_urls.brokerage)),
]

handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.not_found
handler500 = views.server_error
