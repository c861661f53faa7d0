"""NHS numbers: ten digits whose last is a modulus-11 check digit.

A valid NHS number identifies one person, so the matcher links on it without scoring; the
check digit catches every single-digit error and every transposition of adjacent digits,
which is why an invalid number is only ever weak evidence.
"""

from __future__ import annotations

import operator

from streams.identity.normalise import squash

LENGTH = 10
_WEIGHTS = tuple(range(10, 1, -1))


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or ``None`` when no tenth digit makes them valid."""
    remainder = sum(map(operator.mul, map(int, first_nine), _WEIGHTS))
    check = 11 - remainder % 11
    if check == 11:  # remainder 0 gives check digit 0
        return 0
    return None if check == 10 else check  # 10: no tenth digit makes them valid


def is_valid(number: str) -> bool:
    """Whether ``number`` (already without spaces) is ten digits with a correct check digit."""
    if len(number) != LENGTH or not number.isdigit():
        return False
    return check_digit(number[:9]) == int(number[9])


def normalise(text: str) -> str:
    """An NHS number as written ("943 476 5919", "943-476-5919") reduced to its digits."""
    return squash(text)
