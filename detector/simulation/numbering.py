"""Real mobile number ranges, prices and routes per country for the simulator.

Numbers are generated from the mobile example number that ``phonenumbers``
ships for each region: two digits of its national number are varied to get
many candidate ranges, each range is kept only when ``phonenumbers`` accepts
numbers at both ends of it as valid mobile numbers of that region (checked once
per range, never per generated number), and a number is a range plus random
trailing digits. So every destination the simulator writes parses as a valid
mobile number of the country it claims to be in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import phonenumbers
from phonenumbers import PhoneNumberType

SUFFIX_DIGITS = 4
_SUFFIX_SPACE = 10**SUFFIX_DIGITS
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True)
class Country:
    """One destination market: its price per segment and its outbound routes."""

    region: str
    price: float  # USD per segment, typical wholesale-plus-margin level
    carriers: tuple[str, ...]
    utc_offset_h: int
    high_cost: bool = False


# Ordinary markets: where accounts live and most traffic goes.
HOME_COUNTRIES: tuple[Country, ...] = (
    Country("US", 0.0079, ("tmo", "att", "vzw"), -5),
    Country("GB", 0.0400, ("vodafone", "ee"), 0),
    Country("DE", 0.0850, ("telekom", "o2"), 1),
    Country("FR", 0.0750, ("orange", "sfr"), 1),
    Country("ES", 0.0700, ("movistar", "vodafone"), 1),
    Country("IT", 0.0800, ("tim", "wind"), 1),
    Country("NL", 0.0900, ("kpn", "vodafone"), 1),
    Country("PL", 0.0400, ("plus", "orange"), 1),
    Country("BR", 0.0250, ("vivo", "claro", "tim"), -3),
    Country("MX", 0.0300, ("telcel", "att"), -6),
    Country("IN", 0.0050, ("jio", "airtel", "vi"), 5),
    Country("ID", 0.3000, ("telkomsel", "indosat"), 7),
    Country("PH", 0.1200, ("globe", "smart"), 8),
    Country("NG", 0.2000, ("mtn", "airtel"), 1),
    Country("ZA", 0.0200, ("vodacom", "mtn"), 2),
    Country("AU", 0.0450, ("telstra", "optus"), 10),
    Country("CA", 0.0075, ("rogers", "bell"), -5),
    Country("TR", 0.0350, ("turkcell", "vodafone"), 3),
)

# Expensive markets that SMS pumping rings favour (high termination fees).
HIGH_COST_COUNTRIES: tuple[Country, ...] = (
    Country("AZ", 0.2900, ("azercell", "bakcell"), 4, True),
    Country("UZ", 0.2600, ("ucell", "beeline"), 5, True),
    Country("KG", 0.3300, ("megacom", "beeline"), 6, True),
    Country("TJ", 0.3100, ("tcell", "megafon"), 5, True),
    Country("TM", 0.3000, ("tmcell", "altyn"), 5, True),
    Country("GN", 0.2200, ("orange", "mtn"), 0, True),
    Country("LK", 0.2300, ("dialog", "mobitel"), 5, True),
    Country("BY", 0.2400, ("a1", "mts"), 3, True),
)

COUNTRIES: dict[str, Country] = {c.region: c for c in HOME_COUNTRIES + HIGH_COST_COUNTRIES}

# Ranges in high-cost markets billed at a premium on top of the country price.
PREMIUM_RANGE_FACTOR = 1.6


@dataclass(frozen=True)
class NumberRange:
    """A block of 10**SUFFIX_DIGITS valid mobile numbers: ``prefix`` + trailing digits."""

    region: str
    prefix: str  # E.164 with '+', without the trailing digits

    def number(self, suffix: int) -> str:
        return f"{self.prefix}{suffix % _SUFFIX_SPACE:0{SUFFIX_DIGITS}d}"


def _is_mobile(e164: str, region: str) -> bool:
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return False
    return (
        phonenumbers.is_valid_number(parsed)
        and phonenumbers.number_type(parsed) in _MOBILE_TYPES
        and phonenumbers.region_code_for_number(parsed) == region
    )


@cache
def mobile_ranges(region: str) -> tuple[NumberRange, ...]:
    """Every validated mobile range derived from the region's example number."""
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"phonenumbers has no mobile example for {region}")
    cc = str(example.country_code)
    nsn = phonenumbers.national_significant_number(example)
    head = nsn[:-SUFFIX_DIGITS]
    candidates: list[str] = []
    for d in range(100):
        # Vary the operator/area digits (positions 1-2) and the block digits just
        # before the suffix: two families of ranges, like real numbering plans.
        candidates.append(head[0] + f"{d:02d}" + head[3:])
        candidates.append(head[:-2] + f"{d:02d}")
    ranges: list[NumberRange] = []
    seen: set[str] = set()
    for cand in candidates:
        if len(cand) != len(head) or cand in seen:
            continue
        seen.add(cand)
        prefix = f"+{cc}{cand}"
        low, high = prefix + "0" * SUFFIX_DIGITS, prefix + "9" * SUFFIX_DIGITS
        if _is_mobile(low, region) and _is_mobile(high, region):
            ranges.append(NumberRange(region, prefix))
    if not ranges:
        raise ValueError(f"no valid mobile range found for {region}")
    return tuple(sorted(ranges, key=lambda r: r.prefix))


def calling_code(region: str) -> str:
    return str(phonenumbers.country_code_for_region(region))


@dataclass
class NumberPlan:
    """Picks destinations and prices; premium ranges are a few ranges per high-cost country."""

    premium: dict[str, set[str]] = field(default_factory=dict)

    def random_number(self, rng: np.random.Generator, region: str) -> str:
        ranges = mobile_ranges(region)
        rng_range = ranges[int(rng.integers(len(ranges)))]
        return rng_range.number(int(rng.integers(_SUFFIX_SPACE)))

    def random_range(self, rng: np.random.Generator, region: str) -> NumberRange:
        ranges = mobile_ranges(region)
        return ranges[int(rng.integers(len(ranges)))]

    def mark_premium(self, rng_range: NumberRange) -> None:
        self.premium.setdefault(rng_range.region, set()).add(rng_range.prefix)

    def price(self, region: str, destination: str, segments: int, route_factor: float) -> float:
        base = COUNTRIES[region].price
        prefixes = self.premium.get(region)
        if prefixes and destination[: -SUFFIX_DIGITS] in prefixes:
            base *= PREMIUM_RANGE_FACTOR
        return round(base * route_factor * segments, 5)


def route_names(region: str) -> tuple[str, ...]:
    """Outbound routes of a country: one per carrier plus an aggregator hub."""
    country = COUNTRIES[region]
    names = [f"{region.lower()}-{carrier}-direct" for carrier in country.carriers]
    names.append(f"{region.lower()}-hub-agg")
    return tuple(names)
