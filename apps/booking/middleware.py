"""Answers the public pages (event list, event pages, the seat page's shell) from their pre-built
bytes, right after SecurityMiddleware: no session, CSRF, user or URL resolution, no template, no
database, and so no cookie, whatever cookies the browser sends (a malformed CSRF or session cookie
would otherwise be answered with a Set-Cookie): any shared cache may keep what this answers."""

from apps.booking import seatmap
from apps.booking.pages import PUBLIC_PATH, prebuilt_page
from apps.core.prebuilt import respond


class PublicPageShortcut:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            path = request.path_info
            if PUBLIC_PATH.match(path):
                page = prebuilt_page(path)
                if page is not None:
                    return respond(request, page)
            elif seatmap.SHELL_PATH.match(path) and not request.GET:  # ?section=, ?released=: the view's
                page = prebuilt_page(path)
                if page is not None:
                    return seatmap.answer_shell(request, seatmap.Document(page.body))
        return self.get_response(request)  # missing or due a rebuild: the view renders and stores it
