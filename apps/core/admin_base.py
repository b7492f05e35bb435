"""What every app's ops screens share: records that are viewed and acted on, never edited by hand;
amounts shown in rupees; inputs that name themselves to a screen reader.

Every project admin derives from `OpsModelAdmin` or `OpsTabularInline`, so these hold on every
screen without each admin repeating them (tests/admin checks every screen with axe-core)."""

from collections.abc import Callable

from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin
from django.db.models import Field, Model
from django.utils.text import capfirst

from apps.core.money import format_rupees

PAISE_SUFFIX = "_paise"


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


def in_rupees_name(paise_field: str) -> str:
    """amount_paise -> amount_in_rupees: the admin's name of the column that shows it."""
    return f"{paise_field.removesuffix(PAISE_SUFFIX)}_in_rupees"


def _amount_name(field: Field) -> str:
    """What the field holds, without its unit: amount_paise ("amount paise") -> "amount"."""
    return str(field.verbose_name).removesuffix(" paise")


def _label_inputs(formset_class: type) -> type:
    """The formset, with every visible input of every row labelled (`aria-label`).

    A tabular inline or an editable change list shows a field's name once, in a column header that
    is no <label>: a screen reader reads "edit text" and axe fails the page (rule `label`). The label
    names the column and the row ("Price in paise, summer-drop: Standard"), including the delete box and the
    blank row the "Add another" link copies."""

    class LabelledFormSet(formset_class):
        def add_fields(self, form, index):
            super().add_fields(form, index)
            row = str(form.instance) if form.instance.pk else f"new {self.model._meta.verbose_name}"
            for name, field in form.fields.items():
                if not field.widget.is_hidden:
                    label = field.label or capfirst(name.replace("_", " "))
                    field.widget.attrs.setdefault("aria-label", f"{label}, {row}")

    LabelledFormSet.__name__ = formset_class.__name__
    return LabelledFormSet


class OpsAdminMixin(BaseModelAdmin):
    """Money in rupees: every `*_paise` field of the model is shown through `format_rupees`
    (₹1,00,000), as a list column and as a read-only field. An editable one keeps its input in paise
    (what the database stores, labelled so) with the saved amount in rupees beside it."""

    def _add_rupee_displays(self) -> None:
        """One `<amount>_in_rupees` display per `*_paise` field (called by `__init__`)."""
        for field in self._paise_fields():
            amount = _amount_name(field)
            description = amount if field.name in self.readonly_fields else f"{amount} in rupees (saved)"
            setattr(self, in_rupees_name(field.name), self._rupees_display(field, description))

    def _paise_fields(self) -> list[Field]:
        return [field for field in self.model._meta.fields if field.name.endswith(PAISE_SUFFIX)]

    def _in_rupees(self, names, readonly) -> list:
        """`names` with each read-only paise field swapped for its rupees display, and each
        editable one followed by it."""
        shown = []
        for name in names:
            if name in {field.name for field in self._paise_fields()}:
                shown.extend([in_rupees_name(name)] if name in readonly else [name, in_rupees_name(name)])
            else:
                shown.append(name)
        return list(dict.fromkeys(shown))

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        shown = [*self._in_rupees(readonly, readonly), *(in_rupees_name(f.name) for f in self._paise_fields())]
        return list(dict.fromkeys(shown))

    def get_exclude(self, request, obj=None):
        """The read-only paise fields stay out of the form: they are shown in rupees instead."""
        readonly = super().get_readonly_fields(request, obj)
        paise = [field.name for field in self._paise_fields() if field.name in readonly]
        return [*(super().get_exclude(request, obj) or ()), *paise] or None

    def get_fields(self, request, obj=None):
        return self._in_rupees(super().get_fields(request, obj), super().get_readonly_fields(request, obj))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and db_field.name.endswith(PAISE_SUFFIX):
            formfield.label = capfirst(f"{_amount_name(db_field)} in paise")
            # Wide enough for ₹1,00,000 (10000000): the admin's integer box shows five digits.
            formfield.widget.attrs["class"] = "vBigIntegerField"
        return formfield

    def _rupees_display(self, field: Field, description: str) -> Callable[[Model], str]:
        @admin.display(description=description, ordering=field.name)
        def show(obj: Model) -> str:
            paise = getattr(obj, field.name)
            return self.get_empty_value_display() if paise is None else format_rupees(paise)

        return show


class OpsModelAdmin(OpsAdminMixin, admin.ModelAdmin):
    def __init__(self, model, admin_site) -> None:
        super().__init__(model, admin_site)
        self._add_rupee_displays()

    def get_list_display(self, request):
        """A list column is never an input here: every paise column is shown in rupees instead."""
        columns = super().get_list_display(request)
        return self._in_rupees(columns, columns)

    def get_changelist_formset(self, request, **kwargs):
        return _label_inputs(super().get_changelist_formset(request, **kwargs))


class OpsTabularInline(OpsAdminMixin, admin.TabularInline):
    def __init__(self, parent_model, admin_site) -> None:
        super().__init__(parent_model, admin_site)
        self._add_rupee_displays()

    def get_formset(self, request, obj=None, **kwargs):
        return _label_inputs(super().get_formset(request, obj, **kwargs))
