"""What a destination number is: country, calling code, prefixes and number type.

``phonenumbers`` costs about 50 µs a parse, far too slow for every record, so
answers are cached by the number's leading digits and length: numbers that
share a 7-digit prefix and a length share their country, type and validity in
every numbering plan ``phonenumbers`` knows (ranges are allocated in blocks).

>>> info = NumberEnricher().lookup("+4915112345678")
>>> (info.country, info.calling_code, info.number_type, info.operator)
('DE', '49', 'mobile', 'DE T-Mobile')
>>> NumberEnricher().lookup("+99912") is None
True

A number of a possible length that no range of its plan allocates, as far as
``phonenumbers`` knows, is still a number the gateway sent to: it is enriched, with
its type unknown. Only numbers no plan could hold are refused.

>>> NumberEnricher().lookup("+31671234567")
NumberInfo(country='NL', calling_code='31', number_type='unknown', operator='')
>>> NumberEnricher().lookup("+2327749123") is None  # Sierra Leone numbers have 8 digits
True
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

# Country, type and validity are decided by the first digits; 8 characters is
# '+' and 7 digits, deep enough for every plan's range blocks.
CACHE_PREFIX_CHARS = 8
CACHE_LIMIT = 200_000

_TYPE_NAMES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "mobile",
    PhoneNumberType.PREMIUM_RATE: "premium",
    PhoneNumberType.SHARED_COST: "premium",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "fixed",
    PhoneNumberType.PERSONAL_NUMBER: "voip",
    PhoneNumberType.PAGER: "unknown",
    PhoneNumberType.UAN: "fixed",
    PhoneNumberType.VOICEMAIL: "unknown",
    PhoneNumberType.UNKNOWN: "unknown",
}


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """Enrichment of one destination: what it costs to look up once per range."""

    country: str  # ISO 3166 alpha-2, "ZZ" when the plan has no single region
    calling_code: str  # digits, no '+'
    number_type: str  # mobile, fixed, premium, voip or unknown
    # The mobile operator its range was issued to, after its country ("GH MTN"); ""
    # when phonenumbers does not say (fixed lines, plans without operator data).
    operator: str = ""


class NumberEnricher:
    """Caches ``phonenumbers`` answers by range; ``None`` means not a valid number."""

    def __init__(self, cache_limit: int = CACHE_LIMIT) -> None:
        self.cache_limit = cache_limit
        self._cache: dict[tuple[str, int], NumberInfo | None] = {}

    def lookup(self, destination: str) -> NumberInfo | None:
        key = (destination[:CACHE_PREFIX_CHARS], len(destination))
        try:
            return self._cache[key]
        except KeyError:
            pass
        info = _parse(destination)
        if len(self._cache) >= self.cache_limit:
            # Bounded memory: drop the oldest half; the ranges in use come back quickly.
            for old in list(self._cache)[: self.cache_limit // 2]:
                del self._cache[old]
        self._cache[key] = info
        return info


def _parse(destination: str) -> NumberInfo | None:
    try:
        number = phonenumbers.parse(destination, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        # Ranges issued since the metadata was built, and ranges a pumping ring rents
        # (revenue share fraud favours odd, little-used ones), fail the plan's check;
        # refused, an attack on them would never be judged. What no number of the
        # country can look like (a wrong length, no such calling code) is refused.
        if not phonenumbers.is_possible_number(number):
            return None
        return NumberInfo(country=_region_of(number), calling_code=str(number.country_code),
                          number_type="unknown")
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    kind = _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")
    name = carrier.name_for_valid_number(number, "en") if kind == "mobile" else ""
    return NumberInfo(country=region, calling_code=str(number.country_code), number_type=kind,
                      operator=f"{region} {name}" if name else "")


def _region_of(number: phonenumbers.PhoneNumber) -> str:
    """The region of a number outside every allocated range: the one its leading
    digits name (a NANP area code), else its calling code's only region, else "ZZ"."""
    region = phonenumbers.region_code_for_number(number)
    if region and len(region) == 2:
        return region
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(number.country_code, ())
    return regions[0] if len(regions) == 1 else "ZZ"


def prefixes(destination: str, depths: tuple[int, ...] = (2, 3, 4, 5, 6)) -> list[str]:
    """Leading-digit prefixes of an E.164 number, '+' kept, shallow to deep.

    >>> prefixes("+23670123456", (3, 5))
    ['+236', '+23670']
    """
    return [destination[: depth + 1] for depth in depths if depth + 1 < len(destination)]


def regions_of_prefix(prefix: str) -> frozenset[str]:
    """The regions (ISO alpha-2) whose numbers can start with ``prefix``: all those of
    its calling code (one for most, every NANP member for +1), none if it has none.

    >>> sorted(regions_of_prefix("+99369"))
    ['TM']
    >>> "CA" in regions_of_prefix("+1212"), regions_of_prefix("+999")
    (True, frozenset())
    """
    digits = prefix.lstrip("+")
    # Calling codes are prefix-free and one to three digits long.
    for size in (1, 2, 3):
        if len(digits) >= size:
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]))
            if regions:
                return frozenset(regions)
    return frozenset()
