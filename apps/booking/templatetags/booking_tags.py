from django import template

register = template.Library()


@register.filter
def rupees(paise) -> str:
    """12345 -> '₹123.45'; whole rupees drop the paise."""
    paise = int(paise)
    rupees_part, rest = divmod(paise, 100)
    text = f"₹{rupees_part:,}"
    return text if rest == 0 else f"{text}.{rest:02d}"
