"""Message bodies: OTP codes, transactional notices, marketing and smishing text.

Segments follow GSM-7 concatenation: 160 characters fit one segment, longer
texts are split in 153-character parts.
"""

from __future__ import annotations

import numpy as np

_OTP = (
    "Your {brand} code is {code}",
    "{code} is your {brand} verification code. Do not share it.",
    "{brand}: use {code} to sign in. It expires in 10 minutes.",
    "<#> {brand} code: {code}",
)
_TRANSACTIONAL = (
    "{brand}: your order #{n} has shipped and arrives tomorrow.",
    "{brand}: your appointment on {day} at {hour}:00 is confirmed. Reply C to cancel.",
    "{brand}: payment of ${amount} received, thank you.",
    "{brand}: your driver is arriving in {minutes} minutes.",
    "{brand}: a new device signed in to your account. Not you? Call support.",
)
_MARKETING = (
    "{brand}: {pct}% off everything this weekend only! Shop now {url} Reply STOP to opt out",
    "{brand} spring sale starts today: new arrivals and free delivery over $50. "
    "See what's new at {url} Reply STOP to unsubscribe",
    "Hi from {brand}! Your loyalty points ({n}) expire soon, redeem them at {url} "
    "Txt STOP to opt out",
)
# Smishing lures: a handful of templates the spammer rotates, with small edits
# (tracking ids, URL paths) so exact-duplicate filters miss them.
_SMISHING = (
    "Your parcel {n} is on hold due to unpaid customs fee. Pay here: {url}",
    "USPS: your package {n} could not be delivered. Update address: {url}",
    "Bank alert: unusual login on your account {n}. Verify now at {url}",
)
_SPAM_DOMAINS = ("parcel-redelivery-fee.top", "secure-verify-login.xyz", "track-pkg-help.info")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def segments_for(body: str) -> int:
    return 1 if len(body) <= 160 else -(-len(body) // 153)


def otp_body(rng: np.random.Generator, brand: str) -> str:
    template = _OTP[int(rng.integers(len(_OTP)))]
    return template.format(brand=brand, code=f"{int(rng.integers(1_000_000)):06d}")


def transactional_body(rng: np.random.Generator, brand: str) -> str:
    template = _TRANSACTIONAL[int(rng.integers(len(_TRANSACTIONAL)))]
    return template.format(
        brand=brand,
        n=int(rng.integers(100_000, 9_999_999)),
        day=_DAYS[int(rng.integers(len(_DAYS)))],
        hour=int(rng.integers(8, 19)),
        amount=f"{rng.uniform(5, 400):.2f}",
        minutes=int(rng.integers(2, 15)),
    )


def marketing_body(rng: np.random.Generator, brand: str, campaign: int = 0) -> str:
    template = _MARKETING[campaign % len(_MARKETING)]
    slug = brand.lower().replace(" ", "")
    url = f"https://{slug}.example.com/c/{campaign:03d}{int(rng.integers(1000)):03d}"
    return template.format(
        brand=brand, pct=(10, 15, 20, 25, 30)[campaign % 5], url=url,
        n=int(rng.integers(100, 5000)),
    )


def smishing_body(rng: np.random.Generator, variant: int) -> str:
    template = _SMISHING[variant % len(_SMISHING)]
    domain = _SPAM_DOMAINS[variant % len(_SPAM_DOMAINS)]
    token = "".join(chr(97 + int(c)) for c in rng.integers(0, 26, 5))
    return template.format(n=f"{int(rng.integers(10**7, 10**8))}", url=f"https://{domain}/{token}")


def body_for(rng: np.random.Generator, category: str, brand: str, campaign: int = 0) -> str:
    if category == "otp":
        return otp_body(rng, brand)
    if category == "marketing":
        return marketing_body(rng, brand, campaign)
    return transactional_body(rng, brand)
