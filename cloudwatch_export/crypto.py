"""Encryption at rest of the AWS secret key, with ``cryptography``'s Fernet.

Fernet (AES-128-CBC plus HMAC-SHA256, with a timestamp) is the library's recipe for
"encrypt a small value so that only we can read it back": we need no format of our
own. Keys come from ``AUDIT_ENCRYPTION_KEY`` (comma-separated: the first encrypts, all
decrypt, so keys can be rotated), and without it from ``SECRET_KEY`` and
``SECRET_KEY_FALLBACKS``; each is stretched to a Fernet key with HKDF, so any long
random string will do. The key derived from ``SECRET_KEY`` also decrypts when
``AUDIT_ENCRYPTION_KEY`` is set later, so adopting one needs no re-entry of the secret
(the next save re-encrypts with the new key).

A secret encrypted under a key derived from the development ``SECRET_KEY`` (a string in
the source code, ``settings.AUDIT_DEVELOPMENT_SECRET_KEY``) is as good as stored in
clear, so ``encrypt`` refuses to use that key unless ``DEBUG`` is on (a developer's
machine); ``check_stored_secret`` (a system check) reports a secret already stored so.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from . import config

_INFO = b"audit-system/cloudwatch-export/secret-key"


class DecryptionError(Exception):
    """The stored value was encrypted with a key we no longer have."""


class InsecureKeyError(Exception):
    """The key that would encrypt is derived from the development ``SECRET_KEY``."""


@sensitive_variables("secret")
def _fernet_key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(derived)


@functools.lru_cache(maxsize=4)
def _multi(secrets: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(secret)) for secret in secrets])


def _secrets() -> tuple[str, ...]:
    django_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    ordered = [*config.encryption_keys(), *django_keys]
    return tuple(dict.fromkeys(key for key in ordered if key))


def _development_key() -> str:
    """The development ``SECRET_KEY`` the settings fall back on (public: in the source)."""
    return str(getattr(settings, "AUDIT_DEVELOPMENT_SECRET_KEY", "") or "")


def storing_refused() -> str:
    """Why no secret may be encrypted now, or "" when one may: with ``DEBUG`` off, the
    key that would encrypt must not be derived from the development key."""
    development = _development_key()
    if settings.DEBUG or not development or _secrets()[:1] != (development,):
        return ""
    name = "AUDIT_ENCRYPTION_KEY" if config.encryption_keys() else "SECRET_KEY"
    return (
        f"Refusing to store the secret key: {name} is the development default (in the "
        "source code), so anyone with the code could decrypt it. Set SECRET_KEY (or "
        "AUDIT_ENCRYPTION_KEY) in the environment to a long random value."
    )


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    """The Fernet token (text) of ``plaintext``, made with the current first key.
    Raises ``InsecureKeyError`` when that key is the development key (``DEBUG`` off)."""
    refusal = storing_refused()
    if refusal:
        raise InsecureKeyError(refusal)
    return _multi(_secrets()).encrypt(plaintext.encode()).decode()


def under_development_key(token: str) -> bool:
    """Whether ``token`` was made with the key derived from the development key."""
    development = _development_key()
    if not token or not development:
        return False
    try:
        _multi((development,)).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def decrypt(token: str) -> str:
    """The plaintext of a token made by ``encrypt`` with any of the known keys."""
    try:
        return _multi(_secrets()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "The stored secret key cannot be decrypted: AUDIT_ENCRYPTION_KEY or SECRET_KEY "
            "changed since it was saved. Enter the secret key again."
        ) from None
