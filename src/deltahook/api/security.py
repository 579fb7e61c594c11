"""Bearer API keys: every request but ``/healthz`` needs one of the configured keys.

Keys come from the ``api_keys`` setting (a value may be ``${VAR}``, read from the environment
when the server starts) or ``DELTAHOOK_API_KEYS``. Only their SHA-256 digests are kept, and
compared in constant time. A refused key is logged by a short fingerprint, never in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from deltahook.api.errors import error_response
from deltahook.delivery.signing import ENV_REFERENCE
from deltahook.errors import ConfigError

logger = logging.getLogger("deltahook.api")

MIN_KEY_LENGTH = 16
# What ``Authorization: Bearer <key>`` can carry: visible ASCII, no space (a client cannot send
# a non-ASCII or control character in a header, and the key ends at a space).
_SENDABLE = re.compile(r"[!-~]+")
OPEN_PATHS = frozenset({"/healthz"})


def resolve_keys(configured: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The configured keys with ``${VAR}`` filled in; ``ConfigError`` when one cannot be used."""
    env = os.environ if env is None else env
    keys = []
    for number, value in enumerate(configured, start=1):

        def one(match: re.Match[str], number: int = number) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"api_keys: key {number} needs ${name}, which is not set")
            return env[name]

        key = ENV_REFERENCE.sub(one, value)
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(f"api_keys: key {number} is shorter than {MIN_KEY_LENGTH} characters")
        if not _SENDABLE.fullmatch(key):
            raise ConfigError(
                f"api_keys: key {number} holds a space, a control or a non-ASCII character, "
                "which no client can send in an Authorization header"
            )
        keys.append(key)
    if not keys:
        raise ConfigError(
            "the HTTP API needs at least one key: set api_keys in the config file "
            "or DELTAHOOK_API_KEYS"
        )
    return keys


def key_digest(key: str) -> bytes:
    """What a key is compared by: its SHA-256, so the comparison's time says nothing of it."""
    return hashlib.sha256(key.encode()).digest()


def key_known(key: str, digests: Sequence[bytes]) -> bool:
    """Whether ``key`` is one of the keys whose ``key_digest`` is in ``digests``."""
    digest = key_digest(key)
    found = False
    for known in digests:  # no early exit: every key costs the same
        found |= hmac.compare_digest(digest, known)
    return found


def fingerprint(key: str) -> str:
    """A short, safe-to-log stand-in for a key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


class BearerAuth:
    """ASGI middleware: 401 with a JSON body unless ``Authorization: Bearer <a known key>``.

    It runs before the body is read, so an unauthenticated upload costs nothing.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Sequence[str],
        steps_aside: Callable[[Scope], bool] = lambda scope: False,
    ) -> None:
        self.app = app
        self._digests = [key_digest(k) for k in keys]
        self._steps_aside = steps_aside  # requests another gate vouches for (the console's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._steps_aside(scope):
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope)
        if presented is not None and key_known(presented, self._digests):
            await self.app(scope, receive, send)
            return
        if presented is None:
            message = "an API key is required: send 'Authorization: Bearer <key>'"
        else:
            message = "the API key is not valid"
            client = scope.get("client") or ("?", 0)
            logger.warning("refused API key %s from %s", fingerprint(presented), client[0])
        response = error_response(401, message, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
