"""Customer accounts: size, business type, countries, credentials and daily rhythm.

Account volumes are heavy-tailed (a Pareto draw): most accounts send a few
messages an hour, a handful send several a second, like a real CPaaS tenant list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from detector.simulation.numbering import HIGH_COST_COUNTRIES, HOME_COUNTRIES

CATEGORIES = ("otp", "transactional", "marketing")
# Mean over 24 h of the unnormalised daily curve below (a Gaussian integral):
# dividing by it makes an account's rate its daily mean.
_RHYTHM_MEAN = 0.15 + 0.85 * 5.0 * math.sqrt(math.pi) / 24.0

# Business types and their category mixes.
_PROFILES = {
    "auth": (0.88, 0.12, 0.0),
    "commerce": (0.2, 0.65, 0.15),
    "retail": (0.05, 0.25, 0.7),
}
_PROFILE_P = (0.5, 0.32, 0.18)
# Share of home-country traffic per home country in the tenant base.
_HOME_P = np.array(
    [0.30, 0.10, 0.07, 0.06, 0.04, 0.04, 0.03, 0.03, 0.07, 0.04, 0.06, 0.03, 0.03, 0.02, 0.02,
     0.02, 0.03, 0.01]
)
_BRAND_WORDS = (
    "Acme", "Nova", "Blue", "Peak", "Lumen", "Orbit", "Kite", "Maple", "Zest", "Quill", "Fable",
    "Cobalt", "Ember", "Harbor", "Pixel", "Sprout", "Vertex", "Willow", "Atlas", "Juniper",
)
_BRAND_TAILS = ("Pay", "Bank", "Shop", "Go", "Health", "Ride", "Mart", "Fit", "Cloud", "Eats")


@dataclass
class Account:
    """One tenant of the SMS platform and the knobs of its normal behaviour."""

    account_id: str
    rate_per_s: float  # mean sends per second at the daily-rhythm average
    profile: str
    category_p: np.ndarray
    countries: tuple[str, ...]
    country_p: np.ndarray
    utc_offset_h: int
    api_keys: tuple[str, ...]
    source_ips: tuple[str, ...]
    brand: str
    sender_id: str
    conversion: float  # share of delivered OTPs the user verifies
    new_recipient_p: float  # share of sends to a number the account never used
    start_s: float = 0.0  # first traffic, seconds after scenario start
    growth_doubling_s: float | None = None  # ramping new account
    growth_cap: float = 1.0
    surges: list[Surge] = field(default_factory=list)

    @property
    def home(self) -> str:
        return self.countries[0]

    def rhythm(self, t_s: float) -> float:
        """Daily activity multiplier at ``t_s`` seconds after midnight UTC (mean about 1)."""
        local_h = (t_s / 3600.0 + self.utc_offset_h) % 24.0
        # Quiet at night, a broad daytime plateau peaking mid-afternoon.
        day = math.exp(-(((local_h - 14.0) / 5.0) ** 2))
        return (0.15 + 0.85 * day) / _RHYTHM_MEAN

    def growth(self, t_s: float) -> float:
        if self.growth_doubling_s is None:
            return 1.0
        return min(self.growth_cap, 2.0 ** ((t_s - self.start_s) / self.growth_doubling_s))


@dataclass
class Surge:
    """A benign burst inside an account's own traffic (campaign, product launch)."""

    label_id: str
    start_s: float
    end_s: float
    multiplier: float
    known_recipients_only: bool = False
    new_recipient_p: float | None = None
    message_ids: list[str] = field(default_factory=list)


def random_ip(rng: np.random.Generator, first_octets: tuple[int, ...]) -> str:
    a = first_octets[int(rng.integers(len(first_octets)))]
    b, c, d = (int(x) for x in rng.integers(1, 255, 3))
    return f"{a}.{b}.{c}.{d}"


# Cloud provider blocks where customers' backends run.
CUSTOMER_IP_BLOCKS = (3, 13, 18, 20, 34, 35, 40, 52, 54, 104)
# Hosting/VPN blocks an attacker with a stolen key calls from.
ATTACKER_IP_BLOCKS = (5, 45, 91, 146, 185, 193)


def api_key_id(rng: np.random.Generator) -> str:
    return "key_" + "".join(f"{int(x):x}" for x in rng.integers(0, 16, 16))


def build_population(
    rng: np.random.Generator, n_accounts: int, total_rate_per_s: float
) -> list[Account]:
    """``n_accounts`` accounts whose mean send rates sum to ``total_rate_per_s``."""
    sizes = rng.pareto(1.1, n_accounts) + 0.05
    sizes = np.minimum(sizes, np.quantile(sizes, 0.995) * 1.5)
    rates = sizes / sizes.sum() * total_rate_per_s
    accounts = []
    used_brands: set[str] = set()
    for i in range(n_accounts):
        profile = str(rng.choice(list(_PROFILES), p=_PROFILE_P))
        home_idx = int(rng.choice(len(HOME_COUNTRIES), p=_HOME_P / _HOME_P.sum()))
        home = HOME_COUNTRIES[home_idx].region
        others = [c.region for c in HOME_COUNTRIES if c.region != home]
        n_other = int(rng.integers(0, 4))
        extra = tuple(str(x) for x in rng.choice(others, n_other, replace=False))
        if rng.random() < 0.08:
            # Some tenants really do serve users in expensive markets (diaspora, regional
            # banks): legitimate, verified traffic to the countries pumpers favour too.
            pricey = HIGH_COST_COUNTRIES[int(rng.integers(len(HIGH_COST_COUNTRIES)))].region
            extra = (*extra, pricey)
        countries = (home, *extra)
        home_share = rng.uniform(0.8, 0.97) if extra else 1.0
        rest = rng.dirichlet(np.ones(len(extra))) * (1 - home_share) if extra else []
        country_p = np.array([home_share, *rest])
        brand = _brand(rng, used_brands)
        n_keys = 1 + int(rng.random() < 0.35) + int(rng.random() < 0.1)
        n_ips = 1 + int(rng.integers(0, 3))
        accounts.append(
            Account(
                account_id=f"acct_{i:04d}",
                rate_per_s=float(rates[i]),
                profile=profile,
                category_p=np.array(_PROFILES[profile]),
                countries=countries,
                country_p=country_p / country_p.sum(),
                utc_offset_h=HOME_COUNTRIES[home_idx].utc_offset_h,
                api_keys=tuple(api_key_id(rng) for _ in range(n_keys)),
                source_ips=tuple(random_ip(rng, CUSTOMER_IP_BLOCKS) for _ in range(n_ips)),
                brand=brand,
                sender_id=brand.replace(" ", "")[:11],
                conversion=float(rng.uniform(0.6, 0.9)),
                new_recipient_p={"auth": 0.45, "commerce": 0.2, "retail": 0.04}[profile]
                * float(rng.uniform(0.7, 1.3)),
            )
        )
    return accounts


def _brand(rng: np.random.Generator, used: set[str]) -> str:
    for _ in range(50):
        name = (
            _BRAND_WORDS[int(rng.integers(len(_BRAND_WORDS)))]
            + _BRAND_TAILS[int(rng.integers(len(_BRAND_TAILS)))]
        )
        if name not in used:
            used.add(name)
            return name
    name = f"Brand{len(used)}"
    used.add(name)
    return name
