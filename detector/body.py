"""Features of a message body; the text itself never leaves this module.

The contract allows a body only to derive features: whether it carries a link,
a fingerprint for duplicate detection, and its length. The fingerprint folds
digits and case so that "Your code is 123456" and "your code is 654321" match.
A body with a link is fingerprinted by the hosts it links to: a lure campaign
personalises its text (a name, a greeting, reworded lines) and puts a per-recipient
token in the path, but every recipient is sent to the same few sites. That is what
makes a smishing burst recognisable across recipients.

>>> f = body_features("Claim your prize: https://bit.ly/x1")
>>> f.has_url, f.length
(True, 35)
>>> body_features("Code 1234").fingerprint == body_features("code 9876").fingerprint
True
>>> lure = "Your parcel is held: https://pkg-help.xyz/{}"
>>> body_features(lure.format("ab12")).fingerprint == body_features(lure.format("zz")).fingerprint
True
>>> personal = "Hi Anna, your package is held. Pay at https://pkg-help.xyz/q9"
>>> body_features(personal).fingerprint == body_features(lure.format("zz")).fingerprint
True
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_URL = re.compile(
    r"https?://|www\.|\b[a-z0-9-]+\.(?:ly|com|net|io|me|co|xyz|top|info|link)\b", re.I
)
# A link's host without its path: lures carry a per-recipient token in the path.
_LINK = re.compile(r"(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:/\S*)?", re.I)
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class BodyFeatures:
    has_url: bool
    fingerprint: int  # CRC-32 of the normalised text; 0 when there is no body
    length: int  # characters


NO_BODY = BodyFeatures(has_url=False, fingerprint=0, length=0)


def body_features(body: str | None) -> BodyFeatures:
    if not body:
        return NO_BODY
    text = body.lower()
    has_url = _URL.search(text) is not None
    hosts = sorted(set(_LINK.findall(text))) if has_url else None
    if hosts:
        normalised = "<" + "|".join(hosts) + ">"
    else:
        normalised = _SPACES.sub(" ", _DIGITS.sub("#", text)).strip()
    return BodyFeatures(
        has_url=has_url,
        fingerprint=zlib.crc32(normalised.encode()) or 1,
        length=len(body),
    )
