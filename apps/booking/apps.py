from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "apps.booking"
    label = "booking"
    verbose_name = "Booking"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from apps.booking.models import Event
        from apps.booking.selectors import forget_event

        def forget(sender, instance, **kwargs):
            forget_event(instance.slug)

        post_save.connect(forget, sender=Event, weak=False, dispatch_uid="booking_forget_event_saved")
        post_delete.connect(forget, sender=Event, weak=False, dispatch_uid="booking_forget_event_deleted")
