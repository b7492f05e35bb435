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
        found = self._prebuilt_of(request)
        page = prebuilt_page(found[0]) if found else None
        if page is not None:
            return found[1](request, page)
        return self.get_response(request)  # missing or due a rebuild: the view renders and stores it

    @staticmethod
    def _prebuilt_of(request):
        """Where this request's pre-built page is kept and how it is answered, or None when it has
        none: the event pages as they are kept, the shell (kept gzipped) as a seat map document.
        The one lookup: the views only render, for the one request that found the page missing or
        claimed its rebuild."""
        if request.method in ("GET", "HEAD") and PUBLIC_PATH.match(request.path_info):
            return request.path_info, respond
        if seatmap.is_shell(request):
            return seatmap.shell_key(request), _answer_shell
        return None


def _answer_shell(request, page):
    return seatmap.answer_shell(request, seatmap.Document(page.body))
