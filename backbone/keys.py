"""The person-key secret: this installation's own, kept apart from the data.

Person keys are HMACs under this secret (``streams.identity.keys``), so whoever holds the
store but not the secret cannot turn a key back into, or check it against, an identifier.
It lives in a file of its own (mode 0600), created on first use; production mounts it from
a secrets manager instead, never from the database.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from streams.identity.keys import MIN_SECRET_BYTES

KEY_FILE = "identity.key"


def installation_secret(path: Path) -> bytes:
    """The secret in ``path``, created (mode 0600) with fresh random bytes on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(secrets.token_bytes(MIN_SECRET_BYTES))
    return path.read_bytes()
