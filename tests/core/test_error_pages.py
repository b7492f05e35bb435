"""Issue 15: branded error pages. Each says what happened and where to go, none shows a traceback,
and the 500 page needs no database (Django's handler500 renders it with no context). nginx's own
answer when gunicorn is down is a branded static page, and the favicon is served."""

import os

import httpx
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.test import Client
from django.urls import path

from booking_site.urls import urlpatterns as site_urlpatterns
from devstack.ports import free_port
from devstack.processes import ROOT, process
from devstack.waits import wait_for


def boom(request):
    raise RuntimeError("a bug: secret detail 7f3a in a stack frame")


def forbidden(request):
    raise PermissionDenied("staff only")


def database_down(request):
    raise OperationalError("connection refused")


# The site's own URLs, and three that fail the ways a request can fail.
urlpatterns = [
    path("_test/boom/", boom),
    path("_test/forbidden/", forbidden),
    path("_test/db-down/", database_down),
    *site_urlpatterns,
]


@pytest.fixture
def site_with_failures(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def shows_no_traceback(html: str) -> bool:
    return not any(sign in html for sign in ("Traceback", 'File "', "secret detail", "RuntimeError", "Exception"))


def branded(html: str) -> bool:
    """The site's frame (header with the brand, the stylesheet and the favicon) and a way out."""
    return 'class="brand"' in html and "favicon" in html and 'href="/"' in html


@pytest.mark.django_db
def test_404_says_the_page_is_not_there_and_where_to_go(site_with_failures):
    answer = site_with_failures.get("/no-such-page/")
    html = answer.content.decode()
    assert answer.status_code == 404
    assert "We can't find that page" in html and "/tickets/find/" in html
    assert branded(html) and shows_no_traceback(html)


def test_403_says_the_page_is_not_theirs_and_where_to_go(site_with_failures):
    answer = site_with_failures.get("/_test/forbidden/")
    html = answer.content.decode()
    assert answer.status_code == 403 and "You can't open this page" in html
    assert branded(html) and shows_no_traceback(html) and "staff only" not in html


@pytest.mark.django_db
def test_a_form_without_its_csrf_token_gets_a_branded_403():
    answer = Client(enforce_csrf_checks=True).post(
        "/tickets/find/", {"email": "a@example.com", "reference": "K7PM2QXA"}
    )
    html = answer.content.decode()
    assert answer.status_code == 403 and "This form has expired" in html and "Nothing was changed" in html
    assert branded(html) and shows_no_traceback(html) and "CSRF" not in html


def test_500_renders_with_debug_off_and_no_database(site_with_failures):
    """No django_db mark: any query here would fail the test, so the page needs no database."""
    assert settings.DEBUG is False
    answer = site_with_failures.get("/_test/boom/")
    html = answer.content.decode()
    assert answer.status_code == 500
    assert "Something went wrong on our side" in html and "do not pay again" in html
    assert branded(html) and shows_no_traceback(html)


def test_503_when_the_database_is_down_says_wait_and_retries_by_itself(site_with_failures):
    answer = site_with_failures.get("/_test/db-down/")
    html = answer.content.decode()
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert "Hold on a moment" in html and 'http-equiv="refresh" content="5"' in html
    assert branded(html) and shows_no_traceback(html) and "connection refused" not in html


def test_the_favicon_is_linked_and_served_and_favicon_ico_does_not_404(site_with_failures):
    client = Client()
    icon = client.get("/favicon.ico")
    assert icon.status_code == 302 and icon["Location"].endswith(".svg")
    svg = client.get(icon["Location"])
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(svg.streaming_content)
    assert 'rel="icon" href="/static/favicon.svg"' in site_with_failures.get("/_test/boom/").content.decode()


def test_nginx_answers_a_branded_page_and_the_favicon_when_gunicorn_is_down(tmp_path):
    """The real front (scripts/nginx.sh, the repo's config) with nothing listening behind it."""
    port = free_port()
    env = {
        **os.environ,
        "SURGE_NGINX_DIR": str(tmp_path / "nginx"),
        "SURGE_FRONT_LISTEN": f"127.0.0.1:{port}",
        "SURGE_LOBBY_UPSTREAM": f"127.0.0.1:{free_port()}",  # nobody listens on either lane
        "SURGE_BOOKING_UPSTREAM": f"127.0.0.1:{free_port()}",
        "SURGE_STATIC_ROOT": str(ROOT / "static"),
        "SURGE_NGINX_WORKERS": "1",
    }
    url = f"http://127.0.0.1:{port}"
    with process("nginx", ["bash", "scripts/nginx.sh", "run"], env, tmp_path) as nginx:

        def up() -> bool:
            assert nginx.poll() is None, (tmp_path / "nginx.log").read_text()
            try:
                return httpx.get(f"{url}/favicon.ico", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30, what="nginx")
        icon = httpx.get(f"{url}/favicon.ico", timeout=5)
        assert icon.headers["content-type"] == "image/svg+xml" and icon.text.startswith("<svg")
        for page in ("/", "/tickets/find/", "/bookings/K7PM2QXA/"):  # the lobby lane and the booking lane
            answer = httpx.get(url + page, timeout=5)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "5", page
            assert "Surge<span> tickets</span>" in answer.text and 'href="/"' in answer.text, page
            assert "tries again by itself" in answer.text and "nginx" not in answer.text.lower(), page
