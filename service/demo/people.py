"""Made-up personal details for the demo's people: names, mobiles, resident ID numbers, bank cards.

Each function draws only from the ``random.Random`` it is given, in a fixed order, so a seed gives
the same people every time. The numbers are well-formed (ID numbers carry a valid check
character and a plausible region and birth date, card numbers a Luhn check digit) so that they
pass the domain's validation, but they belong to nobody.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from domain.customer_values import id_check_character
from service.demo.vocabulary import (
    CARD_PREFIXES,
    DISTRICTS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    MOBILE_PREFIXES,
    OTHER_REGIONS,
    SURNAMES,
)


def name(rng: random.Random, male: bool) -> str:
    given = rng.choice(GIVEN_MALE if male else GIVEN_FEMALE)
    return rng.choice(SURNAMES) + given


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))


def id_number(rng: random.Random, male: bool, this_year: int, region: str | None = None) -> str:
    """A resident ID number of someone aged 24 to 66 in ``this_year``, mostly of a Shanghai district."""
    if region is None:
        shanghai = rng.random() < 0.6
        region = rng.choice([d[3] for d in DISTRICTS.values()]) if shanghai else rng.choice(OTHER_REGIONS)
    age = rng.randint(24, 66)
    birth = date(this_year - age, 1, 1) + timedelta(days=rng.randrange(365))
    order = rng.randrange(100) * 10 + rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + id_check_character(first17)


def bank_card(rng: random.Random) -> str:
    """A UnionPay-style card number of 16-19 digits with a Luhn check digit."""
    length = rng.choice((16, 19, 19, 19, 17, 18))
    body = rng.choice(CARD_PREFIXES)
    body += "".join(str(rng.randrange(10)) for _ in range(length - len(body) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)
