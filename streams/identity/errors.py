"""The identity library's one exception."""

from __future__ import annotations

from schemas.errors import BackboneError


class IdentityError(BackboneError):
    """An identity operation was refused: a short secret, an unknown person or link."""
