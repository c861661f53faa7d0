"""Person keys: pseudonymous, stable, and useless without the secret.

A person's key is ``HMAC-SHA256(secret, agency ␟ local_id)`` of the record that started the
person, truncated to 128 bits and written in hexadecimal after a ``p``. It contains no
identifier and cannot be turned back into one, nor checked against a guessed one, without
the secret; production keeps the secret apart from the data (a key file or a secrets
manager, never the store), so the keys can travel on every topic while the identifiers stay
in the identity store. The same secret and the same input give the same keys, which keeps
replays and rebuilds stable.
"""

from __future__ import annotations

import hashlib
import hmac

from streams.identity.errors import IdentityError
from streams.identity.records import Link

#: Shortest secret accepted: HMAC-SHA256 wants at least its output size for full strength.
MIN_SECRET_BYTES = 32
_KEY_BYTES = 16
PREFIX = "p"


class PersonKeys:
    """Derives person keys from links with a secret the caller keeps."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise IdentityError(f"the person-key secret needs {MIN_SECRET_BYTES} bytes or more")
        self._secret = secret

    def derive(self, link: Link, attempt: int = 0) -> str:
        """The key for a person started by ``link``; ``attempt`` > 0 when that key is taken."""
        agency, local_id = link
        message = f"{agency}\x1f{local_id}" + (f"\x1f{attempt}" if attempt else "")
        digest = hmac.digest(self._secret, message.encode(), hashlib.sha256)
        return PREFIX + digest[:_KEY_BYTES].hex()
