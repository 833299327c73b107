from django.conf import settings


def platform(request):
    return {
        "platform_domain": settings.CLOZINGS_DOMAIN,
        "brokerage": getattr(request, "brokerage", None),
        "seat": getattr(request, "seat", None),
    }
