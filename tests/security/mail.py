"""Mail backends standing in for a mail path that fails in a way that is not an OSError (the
ValueError a CR/LF header raised), so the tests can watch the retry and the give-up."""

from django.core.mail.backends.base import BaseEmailBackend


class AlwaysFails(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ValueError("Header values may not contain linefeed or carriage return characters")
