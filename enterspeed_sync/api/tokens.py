"""
API tokens: making, finding and revoking them. A token is ``esync_<prefix>_<secret>``;
the prefix is stored to tell tokens apart, the whole token only as a sha256 hash. The
secret has 256 random bits, so a plain hash is as safe as a slow one and costs nothing
per request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.utils import timezone

from enterspeed_sync.models import APIToken

TOKEN_PREFIX = "esync_"  # noqa: S105 - the public start of every token, not a secret
#: ``last_used_at`` is written at most this often per token, not on every request.
LAST_USED_INTERVAL = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(user, *, name: str = "", expires_at: datetime | None = None):
    """A new token for ``user``: returns ``(APIToken, raw token)``; the raw one is not kept."""
    while True:
        prefix = secrets.token_hex(4)
        if not APIToken.objects.filter(prefix=prefix).exists():
            break
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = APIToken.objects.create(
        user=user, name=name, prefix=prefix, key_hash=hash_token(raw), expires_at=expires_at
    )
    return token, raw


def find_active_token(raw: str, now: datetime | None = None) -> APIToken | None:
    """The active token ``raw`` is, with its user, or None (unknown, revoked or expired)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = now or timezone.now()
    token = (
        APIToken.objects.active(now).select_related("user").filter(key_hash=hash_token(raw)).first()
    )
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_INTERVAL:
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(token: APIToken) -> bool:
    """Revoke ``token``; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return True
