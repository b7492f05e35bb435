"""The hottest buyer URLs skip the middleware they do not need, declared here and nowhere else.

A seat-map availability poll and a hold need the security headers and CSP, the dependency-down
answer, CSRF (the hold), the session (staff's pass through the gate), the visitor cookie and the
gate, and CommonMiddleware (its Content-Length keeps gunicorn from chunking the hold's JSON).
They never use messages or WhiteNoise's static files. `settings.MIDDLEWARE` names those two
through the wrappers below, so the chain stays one list in one order, and a hot path simply
passes over them.

(The line's own hot URLs, the waiting page and the status poll, are answered even earlier by
`LobbyShortcut`, and the public pages by `PublicPageShortcut`: those need no Django view at all.)
"""

import re

from django.utils.module_loading import import_string

HOT_PATH = re.compile(r"^/events/[-\w]+/(hold/|seats/(overview|availability(/\d+)?)\.json)$")


def is_hot(request) -> bool:
    """Matched once per request, however many wrappers ask."""
    hot = getattr(request, "_surge_hot_path", None)
    if hot is None:
        hot = request._surge_hot_path = HOT_PATH.match(request.path_info) is not None
    return hot


def skipped_on_hot_paths(target: str) -> type:
    """`target` as a subclass that passes hot-path requests straight on (a subclass, so the checks
    that look for it, such as the admin's, still find it). Only for middleware without view,
    exception or template hooks: Django would call those on hot paths too."""
    middleware = import_string(target)
    hooks = [h for h in ("process_view", "process_exception", "process_template_response") if hasattr(middleware, h)]
    if hooks:
        raise TypeError(f"{target} has {hooks}: it cannot be skipped on hot paths")

    def __call__(self, request):
        if is_hot(request):
            return self.get_response(request)
        return middleware.__call__(self, request)

    return type(f"{middleware.__name__}OffHotPaths", (middleware,), {"__call__": __call__, "__module__": __name__})


WhiteNoise = skipped_on_hot_paths("whitenoise.middleware.WhiteNoiseMiddleware")
Messages = skipped_on_hot_paths("django.contrib.messages.middleware.MessageMiddleware")
