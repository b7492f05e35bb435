"""Money as buyers and ops read it. Amounts are integer paise everywhere else; this is the one
place that turns them into text, through Babel's Indian-English locale (₹1,00,000 grouping),
never by hand."""

from decimal import Decimal

from babel.numbers import format_currency

LOCALE = "en_IN"
CURRENCY = "INR"
# Whole rupees drop the ".00": ticket prices are almost always whole.
WHOLE_RUPEES = "¤#,##,##0"


def format_rupees(paise: int) -> str:
    """10000000 -> '₹1,00,000'; 12345 -> '₹123.45'."""
    paise = int(paise)
    amount = Decimal(paise) / 100
    if paise % 100 == 0:
        return format_currency(amount, CURRENCY, locale=LOCALE, format=WHOLE_RUPEES, currency_digits=False)
    return format_currency(amount, CURRENCY, locale=LOCALE)
