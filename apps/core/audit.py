"""The ops audit log: every action a person takes on money, holds or the line is recorded with
who and when (Zulip's `acting_user`). Services call `record` in the transaction of the change."""

from django.contrib.auth.base_user import AbstractBaseUser

from apps.core.models import AuditEntry


def record(*, acting_user: AbstractBaseUser | None, action: str, target: str, detail: str = "") -> AuditEntry:
    """`acting_user` None: the system itself (a sweep, a script without a user)."""
    return AuditEntry.objects.create(
        # By id: the column is the configured user model's key, whatever class `acting_user` is.
        actor_id=acting_user.pk if acting_user is not None and acting_user.pk else None,
        actor_name=acting_user.get_username() if acting_user is not None else "",
        action=action[:40],
        target=target[:200],
        detail=detail[:300],
    )
