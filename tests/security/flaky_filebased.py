"""A file-based mail backend whose first send fails with ValueError, as a CR/LF header did.

The module name ends in `filebased` so that booking_site.settings hands it EMAIL_FILE_PATH like
Django's own file backend; a marker file in that folder remembers the failure across retries."""

from pathlib import Path

from django.core.mail.backends import filebased


class EmailBackend(filebased.EmailBackend):
    def send_messages(self, email_messages):
        marker = Path(self.file_path) / "failed-once"
        if not marker.exists():
            marker.touch()
            raise ValueError("Header values may not contain linefeed or carriage return characters")
        return super().send_messages(email_messages)
