"""Routes of the staff console, on the platform host."""

from django.urls import path

from clozings.platform.console import api, api_sla, views, views_sla

public: list = [
    *api.public_urls,
    path("staff/", views.staff_home, name="staff_home"),
    path("staff/territories/", views.staff_territories, name="staff_territories"),
    path("staff/territories/<str:zip_code>/", views.staff_territory_update,
         name="staff_territory_update"),
    path("staff/tiers/<str:tier>/", views.staff_tier_update, name="staff_tier_update"),
    path("staff/orphans/", views.staff_orphans, name="staff_orphans"),
    path("staff/orphans/<int:lead_id>/assign/", views.staff_orphan_assign,
         name="staff_orphan_assign"),
    path("staff/delivery/", views.staff_delivery, name="staff_delivery"),
    *api_sla.public_urls,
    path("staff/sla/", views_sla.staff_sla, name="staff_sla"),
]
