"""Categories for the demo catalog: the UCI Online Retail data set names its products but has
no categories, and a shop without them has no navigation, no category pages and no
"top categories" in its profiles. Each product gets one category from words in its title (the
first rule that matches, so "CHRISTMAS CANDLE" is Christmas, not Candles)."""

from __future__ import annotations

import re
from typing import Any

OTHER = "Home Decor"
# (category, the words of a title that put a product in it, "|" between), in the order tried.
_RULES: tuple[tuple[str, str], ...] = (
    ("Christmas", "CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWFLAKE|BAUBLE"),
    ("Candles & Lights", "CANDLE|T-LIGHT|TLIGHT|LANTERN|LIGHT|LAMP|INCENSE"),
    (
        "Kitchen",
        (
            "MUG|CUP|SAUCER|PLATE|BOWL|TEA|CAKE|BAKING|JAM|LUNCH|CUTLERY|NAPKIN|APRON|JUG|"
            "GLASS|BOTTLE|SPOON|OVEN|TRAY|COASTER|EGG|PANTRY|RECIPE|KITCHEN|DOILY|CAKESTAND|"
            "TEAPOT|PLACEMAT|CHOPSTICK|STRAW|BISCUIT|SPICE"
        ),
    ),
    ("Bags & Storage", "BAG|STORAGE|BASKET|PURSE|SHOPPER|TOTE|SUITCASE|HAMPER|CRATE"),
    (
        "Stationery",
        (
            "CARD|PAPER|WRAP|NOTEBOOK|PENCIL|PEN|STICKER|TAPE|ENVELOPE|CALENDAR|DIARY|BOOK|"
            "TAG|STAMP|ERASER|RULER|CHALK"
        ),
    ),
    (
        "Toys",
        (
            "TOY|GAME|DOLL|JIGSAW|PLAYING|SKIPPING|CHILDREN|CHILDS|SPACEBOY|BLOCK|TEDDY|"
            "DOMINOES|SNAKES|PUPPET|MONEY BOX|CRAYON|BUBBLES"
        ),
    ),
    (
        "Garden",
        ("GARDEN|PLANT|WATERING|BIRD|PICNIC|PARASOL|UMBRELLA|HOSE|FLOWER POT|HERB|WINDMILL|BEACH"),
    ),
    ("Party", "PARTY|BUNTING|BALLOON|CONFETTI|GIFT|WEDDING|BIRTHDAY|GARLAND|FELTCRAFT|EASTER"),
    (
        "Jewellery",
        ("NECKLACE|BRACELET|EARRING|RING|HAIR|CLIP|BROOCH|CHARM|SCARF|BEADS|DIAMANTE|HANDBAG|KEY"),
    ),
)
CATEGORIES: tuple[str, ...] = (*(name for name, _ in _RULES), OTHER)
_PATTERNS = tuple(
    (name, re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words.split("|")) + r")S?\b"))
    for name, words in _RULES
)


def category_of(title: str) -> str:
    upper = title.upper()
    for name, pattern in _PATTERNS:
        if pattern.search(upper):
            return name
    return OTHER


def slug(category: str) -> str:
    """'Candles & Lights' -> 'candles-and-lights' (the storefront's category URLs)."""
    words = category.lower().replace("&", "and")
    return re.sub(r"[^a-z0-9]+", "-", words).strip("-")


def by_slug(value: str) -> str | None:
    return next((c for c in CATEGORIES if slug(c) == value), None)


def with_category(product: dict[str, Any]) -> dict[str, Any]:
    """A catalog product (title) or an order line (name) with its category added."""
    title = product.get("title") or product.get("name") or ""
    return {**product, "category": category_of(str(title))}
