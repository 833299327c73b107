"""URLs of a host that is no brokerage: none. Every path gets the unknown-host page (its
static files are served before the URLs are looked at, so the page keeps its style)."""

from clozings.platform import views

urlpatterns: list = []

handler400 = views.unknown_host_bad_request
handler404 = views.unknown_host
handler500 = views.server_error
