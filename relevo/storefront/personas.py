"""The persona switch: who the person at the demo is pretending to be.

new          a new visitor: the page forgets the snippet's anonymous id (cookie and
             localStorage) and the cart, so the next page is a stranger's
customer     a returning customer (one of the demo's): a new anonymous id, then the page
             calls relevo.identify(userId, {}, {identityToken}) with a token the storefront
             signs here, as a shop's backend would after a login
newsletter   arrived from the newsletter: a new anonymous id, then the landing URL an e-mail
             would link to (utm_source=newsletter, utm_medium=email and an ``rlv`` e-mail-
             link token for a customer, as POST /v1/identity-links issues)
trade        a trade customer: as ``customer``, for the member of the trade account
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from relevo.demo.seed import RETURNING_CUSTOMERS, TRADE_CUSTOMER, DemoCustomer
from relevo.identity.identities import USER_ID
from relevo.identity.proofs import LINK_PARAMETER, identity_token, link_token
from relevo.storage.person_store import PersonStore
from relevo.storefront.shop import DemoShop

COOKIE = "rlv_demo_persona"  # what the persona bar says the visitor is
NEWSLETTER_CUSTOMER = RETURNING_CUSTOMERS[1]
LINK_DAYS = 7
IDENTITY_TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class Persona:
    key: str  # the cookie's value
    label: str


def demo_customers() -> tuple[DemoCustomer, ...]:
    return (*RETURNING_CUSTOMERS, TRADE_CUSTOMER)


def customer(user_id: str) -> DemoCustomer | None:
    return next((c for c in demo_customers() if c.user_id == user_id), None)


def persona_of(cookie: str | None) -> Persona:
    """The persona bar's "you are" from its cookie (anything unknown: a visitor)."""
    if cookie == "newsletter":
        return Persona(cookie, f"From the newsletter (customer {NEWSLETTER_CUSTOMER.user_id})")
    if cookie and cookie.startswith("customer:"):
        found = customer(cookie.partition(":")[2])
        if found is not None:
            if found is TRADE_CUSTOMER:
                return Persona(cookie, f"Trade customer {found.user_id}")
            return Persona(cookie, f"Returning customer {found.user_id}")
    if cookie == "new":
        return Persona("new", "A new visitor")
    return Persona("visitor", "A visitor")


def sign_in_token(shop: DemoShop, who: DemoCustomer) -> str:
    """What a shop's backend prints in the page after a login: the proof of the user id."""
    return identity_token(shop.identity_secret, who.user_id, ttl_seconds=IDENTITY_TOKEN_SECONDS)


def newsletter_url(shop: DemoShop, people: PersonStore, path: str = "/demo") -> str | None:
    """The link of this week's newsletter for its customer (None: not in this demo)."""
    identity = (USER_ID, NEWSLETTER_CUSTOMER.user_id)
    profile = people.profile_ids(shop.workspace_id, [identity]).get(identity)
    if profile is None:
        return None
    token = link_token(shop.link_secret, profile, int(time.time()) + LINK_DAYS * 86_400)
    query = {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "weekly-picks",
        LINK_PARAMETER: token,
    }
    return f"{path}?{urlencode(query)}"
