"""Encryption of tool secrets at rest: AES-256-GCM with a key from the service's settings.

Each value is sealed with a fresh 96-bit nonce and bound to its row (tenant, agent, name) as
associated data, so a sealed value copied into another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.errors import FailedPrecondition
from services.common.secret_file import configured_or_file

KEY_FILE = "secrets.key"
_NONCE_BYTES = 12


class SecretsKeyError(ValueError):
    """The configured key is unusable; the message names the setting, never the key."""


class SecretBox:
    """Seals and opens secret values with one AES-256 key."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise SecretsKeyError("AGENTSUITE_SECRETS_KEY must be 32 bytes, base64url-encoded")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, value: str, *, context: tuple[str, ...]) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), _associated(context))

    def open(self, sealed: bytes, *, context: tuple[str, ...]) -> str:
        try:
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _associated(context))
        except InvalidTag:
            # Say which secret, never its value: most likely the key changed since it was set.
            raise FailedPrecondition(
                f"secret {context[-1]!r} cannot be decrypted with the current AGENTSUITE_SECRETS_KEY; set it again",
                reason="SECRET_UNREADABLE",
            ) from None
        return plain.decode()


def _associated(context: tuple[str, ...]) -> bytes:
    return "\0".join(context).encode()


def generate_key() -> str:
    """A new key in the form AGENTSUITE_SECRETS_KEY expects."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def decode_key(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise SecretsKeyError("AGENTSUITE_SECRETS_KEY is not base64url") from None


def load_key(configured: str | None, state_dir: Path) -> bytes:
    """The configured key, or the one in ``state_dir/secrets.key`` (created 0600 when missing).

    The file is the laptop default; deployments set AGENTSUITE_SECRETS_KEY from their secret store.
    """
    return decode_key(
        configured_or_file(
            configured, state_dir / KEY_FILE, generate=generate_key, variable="AGENTSUITE_SECRETS_KEY"
        )
    )
