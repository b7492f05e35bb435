"""Answers the public pages (event list, event pages) from their pre-built bytes, right after
SecurityMiddleware: no session, CSRF, user or URL resolution, no template, no database."""

from apps.booking.pages import PUBLIC_PATH, prebuilt_page
from apps.core.prebuilt import respond


class PublicPageShortcut:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD") and PUBLIC_PATH.match(request.path_info):
            page = prebuilt_page(request.path_info)
            if page is not None:
                return respond(request, page)
        return self.get_response(request)  # missing or due a rebuild: the view renders and stores it
