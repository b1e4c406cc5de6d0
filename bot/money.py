"""Money as integer minor units plus an ISO 4217 currency code. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

MAX_AMOUNT = Decimal("1e12")  # no consumer debt is this large; bigger numbers are not amounts


class MoneyError(ValueError):
    """Raised for an amount that cannot be represented in its currency."""


@dataclass(frozen=True, order=True)
class Money:
    """An amount in minor units (cents, pence, fen) of ``currency`` (ISO 4217, upper case)."""

    minor: int
    currency: str

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        """Build from a major-unit amount (``Decimal("12.50")``, ``"12.50"`` or ``12``).

        Raises :class:`MoneyError` for a non-numeric amount or more decimals than the currency has.
        """
        try:
            value = Decimal(str(amount))
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {amount!r}") from exc
        if not value.is_finite():
            raise MoneyError(f"not an amount: {amount!r}")
        if abs(value) >= MAX_AMOUNT:
            raise MoneyError(f"amount {amount} is too large")
        exponent = get_currency_precision(currency.upper())
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{amount} has more than {exponent} decimals for {currency}")
        return cls(int(scaled), currency.upper())

    @property
    def amount(self) -> Decimal:
        """The major-unit amount as a Decimal with the currency's number of decimals."""
        exponent = get_currency_precision(self.currency)
        return Decimal(self.minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent), ROUND_HALF_UP)

    def format(self, locale: str = "en_US") -> str:
        """Human text, e.g. ``$1,240.50`` or ``£2,150.00`` (Babel, CLDR data)."""
        return str(format_currency(self.amount, self.currency, locale=locale))

    def as_entity(self) -> dict[str, str]:
        """The entity/slot value shape: ``{"amount": "50.00", "currency": "USD"}``."""
        return {"amount": str(self.amount), "currency": self.currency}

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
