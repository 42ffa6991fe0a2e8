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
>>> body_features("Kafyex: 30% off at https://kafyex.co/s", sender="Kafyex").own_link
True
>>> body_features(lure.format("ab12"), sender="Kafyex").own_link
False
>>> body_features("Kafyex: verify at https://kafyex-login.top/a", sender="Kafyex").own_link
False
>>> body_features("Your order: https://shop.kafyex.co.uk/o", sender="KafyexUK").own_link
True

Without a sender name, a link is still the sender's own when its site's name is a word
of the text around it (a brand signs its texts); a look-alike that only contains the
brand is not:

>>> body_features("URGENT Kadri: offices closed. Updates: https://status.kadri.io").own_link
True
>>> body_features("Royal Mail: fee due. Pay at https://royalmail-fee.top/x").own_link
False
>>> body_features("USPS: package held. Update: https://usps.com-track.info/q").own_link
False

A brand's short domain is the start of its name; a look-alike pads the name instead:

>>> [body_features(t).site_named for t in ("TutraTech: 20% off https://tutra.link/d4",
...     "TutraTech: card locked, unlock at https://tutratech-pay.top/d4")]
[True, False]

So is a name of two words run together and cut short ("Frostline Sports",
frostlinesport.io):

>>> [body_features(t).site_named for t in (
...     "Frostline Sports: order shipped https://frostlinesport.io/x/Ph",
...     "Frostline Sports: refund held https://frostlinesports-refund.top/x")]
[True, False]

A shortener hides the site: a campaign through one that offers an opt-out, as marketing
rules require, is taken for the sender's own; a lure through one is not:

>>> drop = body_features("Lusolver: new drop! https://bit.ly/ad1f4 Reply STOP to opt out")
>>> drop.own_link, drop.site_named
(True, False)
>>> body_features("Toll notice: balance due. Pay now: https://t.ly/5916a7").own_link
False

Whatever its host, a link offered with a way to stop the texts is marked (a campaign
answering to the carriers' rules, not proof of whose site it is):

>>> body_features("Polls open till 8pm: https://vf.vote/pp Reply STOP to opt out").opt_out_link
True
>>> body_features("USPS: package held. Update: https://usps.com-track.info/q").opt_out_link
False

In the platform's other languages, an opt-out is a phrase or a keyword to reply with in
capitals; the same word in lower case is an everyday one:

>>> [body_features(t).opt_out_link for t in (
...     "Somos Libres: vota el domingo https://tinyurl.com/x1 Resp. BAJA para no recibir",
...     "Kibotra: bonus hoje! https://kibot.link/a SAIR p/ cancelar",
...     "SosaRide: -20% https://rb.gy/q1 Wypisz sie: odpowiedz NIE",
...     "Correios: seu pacote nao pode sair para entrega. Pague: https://correios-taxa.top/p")]
[True, True, True, False]

A code is a number to type in: a text without one (a promotion, a reminder) is no
code, even when its sender does not say what it is. Order numbers run longer:

>>> [body_features(t).code_like for t in ("Your code: 604 912", "G-881234 is your code",
...     "Ana, we miss you! 20% off at https://shop.io/s/48213977", "Order 1234567890 shipped",
...     "Your order #55573127 has shipped")]
[True, True, False, False, False]

A card's or an account's last four digits, which a bank's notice quotes, are no code;
a code beside them still is:

>>> [body_features(t).code_like for t in (
...     "Kigo: bloqueamos su tarjeta terminada en 1247. Le enviaremos una nueva.",
...     "Your card ending in 4821 was charged $12.00", "Card ****4821: payment declined",
...     "Card ending 4821: your code is 604912", "Your code is 4821")]
[False, False, False, True, True]

A link written so that no filter parses it ("site [dot] info") is still a link:

>>> hidden = body_features("Chase: unusual sign-in. Secure it at chase-login [dot] info / verify")
>>> hidden.has_url, hidden.own_link
(True, False)

A lure need not carry a link: a callback scam asks the reader to phone a number. Codes,
amounts and order numbers are not phone numbers to call:

>>> body_features("Your card was charged $499.99. Not you? Call +1 888-555-0142").callback
True
>>> body_features("Order 1234567890 shipped; code 123456").callback
False

in the platform's other languages too:

>>> [body_features(t).callback for t in (
...     "Alerta: sua conta foi bloqueada. Ligue +1 (866) 227-4348",
...     "Compra aprobada por $899. Si no fue usted, llame al 800 123 4567",
...     "Colis en attente: appelez le 01 84 88 21 00")]
[True, True, True]
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

# The patterns run on the lowered text (no re.I: it doubles their cost), and a bare
# domain is found from its last character before the dot (no backtracking over words).
_URL = re.compile(r"https?://|www\.|[a-z0-9-]\.(?:ly|com|net|io|me|co|xyz|top|info|link)\b")
# A link's host without its path: lures carry a per-recipient token in the path.
_LINK = re.compile(r"(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:/\S*)?")
_DIGITS = re.compile(r"\d+")
# A code to type in: four to eight digits, or two groups of three ("604 912"). Not after
# "#": that is a reference to quote (an order, a parcel, a ticket), not a code to type.
_CODE = re.compile(r"(?<![\d#])(?:\d{4,8}|\d{3}[ -]\d{3})(?!\d)")
# The last four digits of a card or an account, which a bank's notice quotes so that its
# reader knows which one it means: masked ("****1247", "xx-1247", "•1247") or named as its
# end ("ending in 1247", "terminada en", "terminada em", "finalizada em", "endet auf",
# "se terminant par", "che termina con", "berakhiran"). Read before codes are looked for,
# so a card notice is not taken for a code.
_CARD_END = re.compile(
    r"(?:(?:[*\u2022\u00b7]+|\.{2,}|(?<![a-z])x{1,4})[ -]?"
    r"|\b(?:ending|ends|termina|terminad[ao]|finalizad[ao]|endet|endend|terminant|berakhiran)"
    r"(?: (?:in|with|en|em|con|auf|par|on))?:? )\d{4}(?!\d)")
# A dot spelt out in brackets to slip a link past filters: "site [dot] info", "site(dot)com".
_SPELT_DOT = re.compile(r"\s*[\[({]\s*dot\s*[\])}]\s*")
# A number the text asks the reader to phone: a verb of calling, then within a few words
# a phone number (at least seven digits, grouped or not, perhaps with a leading +).
# The verbs, in the languages a platform serves: "ligue" (pt), "llame" (es), "appelez"
# (fr), "chiami" (it), "rufen ... an" (de), "hubungi" (id, ms), "tawagan" (tl).
_CALL_VERBS = ("call", "ring", "phone", "tel", "dial", "contact", "lig", "llam", "marque",
               "appel", "chiam", "ruf", "hubungi", "tawag", "zadzwo")
_CALLBACK = re.compile(
    r"\b(?:call|ring|phone|tel|dial|contact|ligue|ligar|liga|llame|llama|llamar|llamenos"
    r"|ll[aá]menos|marque|appelez|appeler|chiami|chiama|chiamare|rufen|hubungi|tawagan"
    r"|zadzwo\w*)\b[^\d+]{0,30}(?<![a-z])(\+?\d[\d \-().]{5,}\d)")
MIN_PHONE_DIGITS = 7


@dataclass(frozen=True, slots=True)
class BodyFeatures:
    has_url: bool
    fingerprint: int  # CRC-32 of the normalised text; 0 when there is no body
    length: int  # characters
    # Every link goes to a host that carries the sender's name (sender "Kafyex",
    # kafyex.co) or whose site name the text itself signs with ("Kadri: ...",
    # kadri.io): a brand linking to its own site. A lure sent under a hijacked
    # account's name links somewhere else. (Also a shortened link offered with an
    # opt-out: see _compliant_short_link.)
    own_link: bool = False
    # Every link goes to a site the sender's name or the text names: the site is known
    # to be the brand's. A shortener with an opt-out hides whose site it is, and a
    # hijacker can copy "Reply STOP" as easily as the brand does.
    site_named: bool = False
    # The text asks the reader to phone a number (see _CALLBACK).
    callback: bool = False
    # The text, links left out, carries a number that could be a code (see _CODE); a
    # missing body could be anything.
    code_like: bool = True
    # It links and tells the reader how to stop the texts ("Reply STOP"), as carriers'
    # rules require of marketing: what a registered sender's campaign carries and a
    # lure, posing as a bank or a courier, does not.
    opt_out_link: bool = False


NO_BODY = BodyFeatures(has_url=False, fingerprint=0, length=0)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_WORD = re.compile(r"[a-z0-9]+")
# Second-level labels under which a country's sites register (example.co.uk).
_REGISTRY_LABELS = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"})
MIN_BRAND_CHARS = 4  # a sender name shorter than this matches too many hosts by chance
# Public link shorteners: the host anyone can link through.
_SHORTENERS = frozenset({
    "bit.ly", "tinyurl.com", "t.ly", "cutt.ly", "rb.gy", "is.gd", "ow.ly", "goo.gl",
    "buff.ly", "rebrand.ly", "shorturl.at", "tiny.cc", "s.id", "t.co", "bl.ink", "lnkd.in",
})
# How a marketing text tells its reader to stop the texts, in the languages a platform
# serves: a phrase (on the lowered text), or a keyword to reply with, which is written in
# capitals ("Resp. BAJA", "SAIR p/ cancelar"): in lower case those words are everyday
# ones ("sair para entrega", "dada de baja") that a courier's or a bank's lure uses too.
_OPT_OUT = re.compile(
    r"\b(?:stop|unsubscribe|opt[ -]?out|no recibir|desuscr\w*|descadastr\w*"
    r"|d[eé]sinscri\w*|d[eé]sabonn\w*|abmeld\w*|wypisz|rezygn\w*|dezabon\w*|berhenti"
    r"|unreg|отпис\w*|відпис\w*)\b")
_OPT_OUT_KEYWORD = re.compile(r"\b(?:BAJA|SAIR|SALIR|PARAR|IPTAL)\b")


def body_features(body: str | None, sender: str | None = None) -> BodyFeatures:
    if not body:
        return NO_BODY
    text = body.lower()
    if "dot" in text:  # most texts: no regex at all
        text = _SPELT_DOT.sub(".", text)
    has_url = _URL.search(text) is not None
    hosts: list[str] = sorted(set(_LINK.findall(text))) if has_url else []
    normalised = ("<" + "|".join(hosts) + ">" if hosts
                  else " ".join(_DIGITS.sub("#", text).split()))
    words = _LINK.sub(" ", text) if has_url else text  # the text around its links
    opt_out = has_url and _offers_opt_out(body, text)
    site_named = bool(hosts) and (_names_sender(hosts, sender) or _named_in_text(hosts, words))
    return BodyFeatures(
        has_url=has_url,
        fingerprint=zlib.crc32(normalised.encode()) or 1,
        length=len(body),
        own_link=site_named or (bool(hosts) and _compliant_short_link(hosts, opt_out)),
        site_named=site_named,
        callback=_asks_to_call(text),
        code_like=_carries_code(words),
        opt_out_link=opt_out,
    )


def _offers_opt_out(body: str, text: str) -> bool:
    """Does the text tell its reader how to stop the texts? (``text``: ``body`` lowered.)"""
    return _OPT_OUT.search(text) is not None or _OPT_OUT_KEYWORD.search(body) is not None


def _carries_code(words: str) -> bool:
    """Is there a number to type in, once a card's or an account's quoted end is left out?"""
    match = _CODE.search(words)
    if match is None:
        return False
    if match.end() - match.start() != 4 or not _CARD_END.search(words):
        return True  # most texts: a code, or no card's end to leave out
    return _CODE.search(_CARD_END.sub(" ", words)) is not None


def _asks_to_call(text: str) -> bool:
    if not any(verb in text for verb in _CALL_VERBS):  # most texts: no regex at all
        return False
    return any(sum(c.isdigit() for c in match.group(1)) >= MIN_PHONE_DIGITS
               for match in _CALLBACK.finditer(text))


def _names_sender(hosts: list[str], sender: str | None) -> bool:
    """Is every host's site the (alphabetic) sender's? Numeric senders (short and long
    codes) name no site.

    The site name must be the sender name or most of it (sender "KafyexUK",
    kafyex.co.uk): a look-alike pads the brand (kafyex-login.top) and is not its site.
    """
    brand = _NOT_ALNUM.sub("", sender.lower()) if sender else ""
    if len(brand) < MIN_BRAND_CHARS or brand.isdigit():
        return False
    shortest = max(MIN_BRAND_CHARS, len(brand) // 2 + 1)
    return all(len(site) >= shortest and site in brand
               for site in map(_site_name, hosts))


def _compliant_short_link(hosts: list[str], opt_out: bool) -> bool:
    """Are all links through public shorteners, in a text that offers an opt-out?

    A shortener hides the site, so its host says nothing about whose it is. Marketing
    rules make a campaign tell its reader how to stop it ("Reply STOP to opt out"), and
    a shop's campaign through bit.ly does; a lure seldom bothers. A look-alike of the
    brand's own site is a named host, not a shortener, and stays foreign.
    """
    return opt_out and all(host in _SHORTENERS for host in hosts)


def _site_name(host: str) -> str:
    """The name a site registered (kadri in status.kadri.io, shop in shop.co.uk), less
    its hyphens: what a brand signs with, and what a look-alike pads (usps-track)."""
    labels = host.split(".")
    at = -2
    if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in _REGISTRY_LABELS:
        at = -3
    return labels[at].replace("-", "")


def _named_in_text(hosts: list[str], words_text: str) -> bool:
    """Is every host's site name a word of the text, two words run together ("Royal
    Mail", royalmail.com), or most of the start of one ("TutraTech", tutra.link)? Only
    names long enough not to match by chance."""
    words = _WORD.findall(words_text)
    names = set(words)
    names.update(a + b for a, b in zip(words, words[1:], strict=False))
    for host in hosts:
        site = _site_name(host)
        if len(site) < MIN_BRAND_CHARS or site.isdigit():
            return False
        if site not in names and not _shortens_a_word(site, names):
            return False
    return True


def _shortens_a_word(site: str, words: Iterable[str]) -> bool:
    """Is ``site`` the first half or more of a word of the text (or of two run
    together): a brand's short domain (tutra.link for TutraTech)? A look-alike pads the
    name instead (tutratech-pay.top)."""
    return len(site) > MIN_BRAND_CHARS and any(
        word.startswith(site) and 2 * len(site) >= len(word) for word in words)
