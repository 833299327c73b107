"""Routes of the billing app: `public` on the platform host, `brokerage` on brokerage hosts."""

from django.urls import path

from clozings.billing import api, views, webhooks

public: list = [
    path("billing/stripe/webhook", webhooks.StripeWebhookApi.as_view(), name="stripe-webhook"),
]
brokerage: list = [
    path("api/v1/billing", api.BillingApi.as_view(), name="api-billing"),
    path("api/v1/billing/setup-intent", api.SetupIntentApi.as_view(),
         name="api-billing-setup-intent"),
    path("api/v1/billing/payment-method", api.PaymentMethodApi.as_view(),
         name="api-billing-payment-method"),
    path("api/v1/reservations", api.ReservationListApi.as_view(), name="api-reservations"),
    path("api/v1/reservations/<int:reservation_id>", api.ReservationDetailApi.as_view(),
         name="api-reservation"),
    path("billing/", views.billing_page, name="billing"),
    path("billing/card/", views.card_page, name="billing-card"),
    path("billing/retry/", views.retry_payment, name="billing-retry"),
    path("billing/reserve/", views.reserve, name="billing-reserve"),
    path("billing/release/<int:reservation_id>/", views.release, name="billing-release"),
    path("billing/offers/<int:entry_id>/accept/", views.accept_offer,
         name="billing-accept-offer"),
]
