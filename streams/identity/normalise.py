"""Folding of free text, dates, postcodes and addresses into comparable forms.

Nothing here assumes a country: agencies and benchmark sets send names, dates, postcodes and
addresses in many national formats, so each function folds what every format shares (case,
accents, punctuation, separators) and keeps every plausible reading of what is ambiguous (a
date such as ``03/04/1980``) instead of guessing one.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from functools import lru_cache

#: Letters that Unicode decomposition leaves alone but people write without their mark.
_LETTERS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "ss",
        "ł": "l",
        "Ł": "l",
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "þ": "th",
        "Þ": "th",
        "ı": "i",  # noqa: RUF001 - the Turkish dotless i, folded on purpose
        "ħ": "h",
    }
)
_NOT_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")
_CACHE = 1 << 16


class _Unaccented(dict[int, str]):
    """Each character without its marks, worked out the first time it is met: decomposing
    whole strings costs more than the rest of a record's folding."""

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(code).translate(_LETTERS))
        self[code] = folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        return folded


_UNACCENTED = _Unaccented()


def words(text: str) -> list[str]:
    """The words of ``text`` in lower case, without accents or punctuation.

    Non-Latin letters are kept (folded case only), so a name in another script still
    compares with itself.
    """
    if not text.isascii():
        text = text.translate(_UNACCENTED)
    return _NOT_WORD.sub(" ", text.casefold()).split()


def fold(text: str) -> str:
    """:func:`words` separated by one space."""
    return " ".join(words(text))


def squash(text: str) -> str:
    """:func:`fold` without spaces: for codes whose spacing varies (postcodes, ids)."""
    return fold(text).replace(" ", "")


# Dates ---------------------------------------------------------------------------------------

#: Month names and their usual abbreviations in the benchmark and agency languages, folded.
#: Three letters identify a month in all of them but for June/July in French (juin/juil).
_MONTH_PREFIXES = {
    1: ("jan", "ene", "gen", "sty"),
    2: ("feb", "fev", "lut"),
    3: ("mar", "maa"),
    4: ("apr", "avr", "abr", "kwi"),
    5: ("may", "mai", "mag", "mei", "maj"),
    6: ("jun", "juin", "giu", "cze"),
    7: ("jul", "juil", "lug", "lip"),
    8: ("aug", "aou", "ago", "sie"),
    9: ("sep", "set", "wrz"),
    10: ("oct", "okt", "ott", "out", "paz"),
    11: ("nov", "lis"),
    12: ("dec", "dez", "dic", "gru"),
}
_MONTHS = {prefix: month for month, prefixes in _MONTH_PREFIXES.items() for prefix in prefixes}
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DATE_PARTS = 3
_YEAR_DIGITS = 4
_MONTHS_IN_YEAR = 12


def _month(word: str) -> int | None:
    return _MONTHS.get(word[:4]) or _MONTHS.get(word[:3])


def _valid(year: int, month: int, day: int) -> int | None:
    """The date as ``yyyymmdd``, or ``None`` when it is not on the calendar."""
    if not (1 <= month <= _MONTHS_IN_YEAR and 1 <= day <= _DAYS[month] and year >= 1):
        return None
    if month == 2 and day == 29 and not calendar.isleap(year):
        return None
    return year * 10000 + month * 100 + day


def _years(digits: str) -> tuple[int, ...]:
    """A four-digit year as written; a two-digit one in both centuries it may mean."""
    if len(digits) == _YEAR_DIGITS:
        return (int(digits),)
    if len(digits) == 2:
        return (1900 + int(digits), 2000 + int(digits))
    return ()


def _numeric(parts: list[str]) -> list[int | None]:
    """Readings of three numbers: year first (ISO), else day/month or month/day first."""
    first, second, third = parts
    if len(first) == _YEAR_DIGITS:
        return [_valid(int(first), int(second), int(third))]
    readings: list[int | None] = []
    for year in _years(third):
        readings.append(_valid(year, int(second), int(first)))
        readings.append(_valid(year, int(first), int(second)))
    return readings


def _compact(digits: str) -> list[int | None]:
    """An eight-digit date without separators: yyyymmdd, else ddmmyyyy or mmddyyyy."""
    if 1000 <= int(digits[:4]) <= 2999:
        return [_valid(int(digits[:4]), int(digits[4:6]), int(digits[6:]))]
    return _numeric([digits[:2], digits[2:4], digits[4:]])


def _named(text: str, numbers: list[str]) -> list[int | None]:
    """A date written with a month name: '4 March 1980', 'March 4, 1980', '4. März 80'."""
    months = [month for word in text.split() if word.isalpha() and (month := _month(word))]
    if not months or len(numbers) != 2:
        return []
    day, year = (numbers[1], numbers[0]) if len(numbers[0]) > 2 else numbers
    return [_valid(each, months[0], int(day)) for each in _years(year)]


@lru_cache(maxsize=_CACHE)
def parse_date(text: str) -> tuple[int, ...]:
    """Every calendar date ``text`` may mean, as ``yyyymmdd`` integers, likeliest first.

    ``03/04/1980`` gives both the 3 April and the 4 March reading: which convention an
    agency uses is unknown, and a swapped day and month is a common entry error anyway.
    Nothing parseable gives ``()``, which the matcher treats as a missing date.
    """
    numbers = _DIGITS.findall(text)
    if len(numbers) == 1 and len(numbers[0]) == 8:
        readings = _compact(numbers[0])
    elif len(numbers) >= _DATE_PARTS:
        readings = _numeric(numbers[:_DATE_PARTS])
    else:
        readings = _named(fold(text), numbers)
    return tuple(dict.fromkeys(reading for reading in readings if reading is not None))


# Postcodes and addresses ---------------------------------------------------------------------

#: Street words written in full or abbreviated, folded, across the agencies' languages.
_ABBREVIATIONS = {
    "st": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "avda": "avenida",
    "ln": "lane",
    "dr": "drive",
    "ct": "court",
    "sq": "square",
    "cres": "crescent",
    "pl": "place",
    "blvd": "boulevard",
    "bd": "boulevard",
    "str": "strasse",
    "r": "rua",
    "c": "calle",
    "ul": "ulica",
    "apt": "apartment",
}


def postcode(text: str) -> str:
    """A postcode or ZIP code as one folded word: spacing and hyphens vary by writer."""
    return squash(text)


def address(text: str) -> str:
    """An address folded, with street-word abbreviations written out, for fuzzy comparison."""
    return " ".join([_ABBREVIATIONS.get(word, word) for word in words(text)])
