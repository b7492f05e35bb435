"""The client address django-axes locks admin logins by (settings.AXES_CLIENT_IP_CALLABLE)."""

import ipaddress

from django.http import HttpRequest

from apps.core.http import client_ip


def client_address(request: HttpRequest) -> str | None:
    """The project's one reading of the client IP (WAITING_ROOM_CLIENT_IP_HEADER, behind nginx its
    X-Real-IP), so the throttle and the waiting room agree on who a client is.

    Only a real address is returned: axes stores it in an inet column, and a made-up header value
    must get the login form (or the lockout page), never a 500. Without one, the socket's address."""
    for value in (client_ip(request), request.META.get("REMOTE_ADDR", "")):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            continue
    return None
