"""Secrets at rest: secret outputs and secret-named params are sealed with Fernet before they
reach a database column, and opened when the store reads them back (ARCHITECTURE §5.5, §6.5).

The key comes from ``INNOMINATUS_SECRET_KEY`` (read by the runtime) or a key file in
``data_dir`` created with mode 0600 on first start; ``data_dir`` itself is kept 0700. Losing
the key loses the sealed values, never the rest of the recorded state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from reconciler.errors import ConfigError
from reconciler.secrets import MASK, is_secret_key

KEY_FILE = "secret.key"
logger = logging.getLogger(__name__)


def load_or_create_key(
    data_dir: Path, *, env_value: str | None, create: bool = True
) -> bytes | None:
    """The Fernet key: the configured value, else ``data_dir/secret.key`` (created 0600 when
    ``create``; read-only commands pass ``create=False`` and get None if there is none)."""
    if create:
        private_folder(data_dir)
    if env_value:
        key = env_value.strip().encode()
        _check(key, "INNOMINATUS_SECRET_KEY")
        return key
    path = data_dir / KEY_FILE
    if path.exists():
        key = path.read_bytes().strip()
        _check(key, str(path))
        return key
    if not create:
        return None
    key = Fernet.generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    return key


def private_folder(folder: Path) -> Path:
    """``folder`` (``data_dir``: clones, state, keys) made readable by this user only: created
    0700, or, when it exists and belongs to this user, stripped of group and other access."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(folder, 0o700)
        logger.warning("%s was open to other users; it is now readable by its owner only", folder)
    return folder


def _check(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except ValueError as exc:
        raise ConfigError(
            f"{where}: not a valid key (32 url-safe base64-encoded bytes); generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`"
        ) from exc


class SecretBox:
    """Splits a mapping into plain values and one sealed token, and back."""

    def __init__(self, key: bytes | None) -> None:
        used = key or Fernet.generate_key()
        self._fernet = Fernet(used)
        self._warned = key is None  # without a key, masked values are expected: no warning
        self.key_id = hmac.new(used, b"innominatus key id", hashlib.sha256).hexdigest()[:16]
        """Names the key without revealing it: what is read through the box (secret values,
        masked elsewhere by value) depends on the key, so remembered reads are keyed by it."""

    def seal(
        self, values: Mapping[str, Any], marked: Collection[str] = ()
    ) -> tuple[dict[str, Any], str | None]:
        plain = {k: v for k, v in values.items() if not is_secret_key(k, marked)}
        secret = {k: v for k, v in values.items() if is_secret_key(k, marked)}
        if not secret:
            return plain, None
        token = self._fernet.encrypt(json.dumps(secret, sort_keys=True).encode())
        return plain, token.decode()

    def open(
        self, plain: Mapping[str, Any] | None, token: str | None, *, keys: Collection[str] = ()
    ) -> dict[str, Any]:
        """Plain and unsealed values merged; without the right key the sealed ``keys`` read
        as masked, so every reader still sees which outputs exist."""
        merged = dict(plain or {})
        if token:
            try:
                merged.update(json.loads(self._fernet.decrypt(token.encode())))
            except InvalidToken:
                merged.update(dict.fromkeys(keys, MASK))
                if self._warned:
                    return merged
                self._warned = True
                # Sealed with another key: those values are lost, the record stays usable.
                logger.warning(
                    "secret values sealed with another key cannot be read; restore the old "
                    "INNOMINATUS_SECRET_KEY or let the next update re-create them"
                )
        return merged
