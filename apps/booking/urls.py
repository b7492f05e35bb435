from django.urls import path

from apps.booking import views

app_name = "booking"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("events/<slug:slug>/", views.event_detail, name="event_detail"),
    path("events/<slug:slug>/seats/", views.seat_map, name="seat_map"),
    path("events/<slug:slug>/layout.json", views.seat_layout, name="seat_layout"),
    path("events/<slug:slug>/seats/overview.json", views.seat_overview, name="seat_overview"),
    path("events/<slug:slug>/seats/availability.json", views.seat_availability, name="seat_availability"),
    path(
        "events/<slug:slug>/seats/availability/<int:section_id>.json",
        views.seat_availability,
        name="section_availability",
    ),
    path("events/<slug:slug>/hold/", views.hold, name="hold"),
    path("checkout/<uuid:intent_id>/release/", views.release, name="release"),
    path("bookings/<str:reference>/", views.ticket, name="ticket"),
    path("door/<slug:slug>/", views.door, name="door"),
    path("door/<slug:slug>/manifest.json", views.door_manifest, name="door_manifest"),
    path("door/<slug:slug>/sync/", views.door_sync, name="door_sync"),
    path("door/<slug:slug>/worker.js", views.door_worker, name="door_worker"),
    path("tickets/find/", views.find_tickets, name="find_tickets"),
]
