"""What every app's ops screens share: records that are viewed and acted on, never edited by hand."""


class ReadOnlyAdminMixin:
    """View and act (admin actions), never add, edit or delete by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInlineMixin(ReadOnlyAdminMixin):
    extra = 0
    max_num: int | None = 0
    can_delete = False
    show_change_link = False
