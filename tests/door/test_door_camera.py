"""The door's camera in Debian's Chromium with a fake camera that films a ticket's QR code: where the
browser has no BarcodeDetector (removed here, so the fallback is what runs whatever the build), the
page loads the vendored jsQR from our own origin (the Content-Security-Policy allows it: nothing is
blocked), decodes the code and checks it in."""

import pytest
import segno
from django.urls import reverse
from playwright.sync_api import expect

from apps.booking import links
from apps.booking.models import BookedSeat
from tests.browser.conftest import shot
from tests.conftest import CHROMIUM_ARGS
from tests.door.test_door_page import door_staff
from tests.factories import make_event
from tests.payments.test_audit import paid_booking

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

SIZE = 320  # the fake camera's frame, in pixels


def qr_video(text: str, path) -> None:
    """A Y4M video (what Chromium's fake camera plays) of one still frame: the QR code, black on
    white, 8 pixels a module, centred, with its quiet zone."""
    qr = segno.make_qr(text, error="m")
    modules = [list(row) for row in qr.matrix]
    scale = 8
    offset = (SIZE - len(modules) * scale) // 2
    assert offset >= 4 * scale, "the code must fit with its quiet zone"
    luma = bytearray(b"\xeb" * SIZE * SIZE)  # white (video range)
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = (offset + y * scale + dy) * SIZE + offset + x * scale
                    luma[start : start + scale] = b"\x10" * scale  # black
    chroma = b"\x80" * (SIZE // 2) * (SIZE // 2)
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{SIZE} H{SIZE} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(2):
            video.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


def test_the_camera_reads_a_ticket_with_jsqr_and_checks_it_in(browser, live_server, tmp_path):
    event = make_event(name="Monsoon Nights")
    code = links.gate_codes(paid_booking(event, ["A-1"], 1))[0][1]
    video = tmp_path / "ticket.y4m"
    qr_video(code, video)
    camera_args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    filming = browser.browser_type.launch(
        executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS + camera_args, headless=True
    )
    blocked = []
    try:
        context = filming.new_context(viewport={"width": 390, "height": 844}, permissions=["camera"])
        context.add_init_script("delete window.BarcodeDetector")  # the fallback, whatever the build
        staff = door_staff()
        context.add_cookies([{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
        page.goto(f"{live_server.url}{reverse('booking:door', args=[event.slug])}")
        page.fill("#door-gate", "Gate 3")
        page.click("#door-scan")
        expect(page.locator("#door-answer .door-big")).to_have_text("Seat A-1, Buyer 1.")
        expect(page.locator("#door-answer")).to_have_class("door-answer door-green")
        assert page.evaluate("typeof window.jsQR") == "function"  # the vendored decoder read it
        expect(page.locator("#door-video")).to_be_hidden()  # the camera is off again
        shot(page, "door-camera-green")
    finally:
        filming.close()
    assert not blocked, blocked
    seat = BookedSeat.objects.get()
    assert seat.checked_in_at is not None and seat.checked_in_gate == "Gate 3"
