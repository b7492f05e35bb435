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
        answer = self._answer_of(request)
        page = prebuilt_page(request.path_info) if answer else None
        if page is not None:
            return answer(request, page)
        return self.get_response(request)  # missing or due a rebuild: the view renders and stores it

    @staticmethod
    def _answer_of(request):
        """How a pre-built page of this request is answered, or None when it has none: the event
        pages as they are kept, the shell (kept gzipped) as a seat map document. A shell with a
        query string (?released=) is left to the view."""
        if request.method in ("GET", "HEAD") and PUBLIC_PATH.match(request.path_info):
            return respond
        if not request.GET and seatmap.is_shell(request):
            return lambda request, page: seatmap.answer_shell(request, seatmap.Document(page.body))
        return None
