"""Mobile and landline numbers, ID numbers (GB 11643) and bank card numbers.

Numbers that must not repeat come from a keyed permutation of the customer's index
instead of a set of numbers already handed out, so any slice of customers can be
made on its own (and in any process) while the whole run still never repeats one.
"""
import datetime
import math
import random

# Mainland mobile prefixes of the three carriers, weighted roughly by subscribers.
MOBILE_PREFIXES = [
    ("139", 9), ("138", 9), ("137", 6), ("136", 6), ("135", 6), ("134", 4), ("150", 5), ("151", 5),
    ("152", 4), ("157", 2), ("158", 5), ("159", 5), ("182", 4), ("183", 3), ("187", 4), ("188", 4),
    ("198", 2), ("130", 4), ("131", 4), ("132", 3), ("155", 3), ("156", 3), ("166", 2), ("185", 3),
    ("186", 5), ("176", 2), ("175", 1), ("133", 3), ("153", 2), ("180", 3), ("181", 3), ("189", 4),
    ("177", 1), ("173", 1), ("191", 1), ("199", 2), ("147", 1), ("178", 1),
]
_MOBILE_POOL = [prefix for prefix, weight in MOBILE_PREFIXES for _ in range(weight)]

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

# Debit card BINs of large banks: ICBC, ABC, CCB, BOC, CMB, BOCOM.
CARD_BINS = ("622202", "622848", "621700", "621661", "622588", "622262")


class Permutation:
    """A keyed bijection of range(size): a four-round Feistel network, cycle-walked into range."""

    def __init__(self, size, key):
        self.size = size
        self.half = math.isqrt(size - 1) + 1
        rng = random.Random(key)
        self.keys = [rng.getrandbits(32) for _ in range(4)]

    def __call__(self, x):
        n = self.half
        while True:
            left, right = divmod(x, n)
            for key in self.keys:
                left, right = right, (left + ((((right ^ key) * 0x9E3779B1) & 0xFFFFFFFF) >> 7)) % n
            x = left * n + right
            if x < self.size:
                return x


def id_check_digit(first17):
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def valid_id_number(value):
    """True for an 18-character resident ID number whose birth date and check digit are right."""
    if not isinstance(value, str) or len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        datetime.datetime.strptime(value[6:14], "%Y%m%d")
    except ValueError:
        return False
    return id_check_digit(value[:17]) == value[17]


def luhn_digit(digits):
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


class Numbers:
    """Unique numbers for the customer with a given index, keyed by the run's seed."""

    def __init__(self, seed, today):
        self.mobile_perm = Permutation(10**8, f"{seed}:mobile")
        # Adults born between 65 and 20 years ago; the sequence part makes each birth day hold 1000.
        self.born_from = today.replace(year=today.year - 65, day=min(today.day, 28))
        self.born_days = (today.replace(year=today.year - 20, day=min(today.day, 28)) - self.born_from).days
        self.id_perm = Permutation(self.born_days * 1000, f"{seed}:id")
        self.card_perm = Permutation(10**12, f"{seed}:card")

    def mobile(self, rng, index):
        return _MOBILE_POOL[int(rng.random() * len(_MOBILE_POOL))] + format(self.mobile_perm(index), "08d")

    def identity(self, index, area):
        """(ID number, male?) for someone registered in `area` (a six-digit code)."""
        slot = self.id_perm(index)
        born = self.born_from + datetime.timedelta(days=slot // 1000)
        sequence = slot % 1000
        first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
        return first17 + id_check_digit(first17), sequence % 2 == 1  # odd sequence: male, by the standard

    def bank_card(self, rng, index):
        first18 = CARD_BINS[int(rng.random() * len(CARD_BINS))] + format(self.card_perm(index), "012d")
        return first18 + luhn_digit(first18)

    def company_account(self, rng, index):
        """Corporate accounts have no check digit; a branch number and the account serial."""
        return f"{rng.randrange(1000, 9999)}{self.card_perm(index):012d}{rng.randrange(10, 99)}"


def landline(rng, area_code):
    digits = 8 if len(area_code) == 3 or rng.random() < 0.7 else 7
    return f"{area_code}-{rng.randrange(2, 9)}{rng.randrange(10 ** (digits - 1)):0{digits - 1}d}"
