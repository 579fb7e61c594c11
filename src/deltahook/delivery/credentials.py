"""A subscription's credentials at send time: its header values and secrets with ``${VAR}``
filled from the environment and checked (and the Basic ``Authorization`` a user name and
password in its URL stand for), and the blanking of them in what a receiver echoes.

The store keeps ``${VAR}`` as written (``subscriptions.py``, which never reads the
environment); the dispatcher's lanes and a test send fill them in before sending, so a missing
variable holds one subscription's deliveries while the others go on.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from deltahook.delivery import redaction
from deltahook.delivery.signing import ENV_REFERENCE, check_header, decode_secret
from deltahook.delivery.subscriptions import Subscription
from deltahook.errors import DeliveryError


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """The headers and secrets of one subscription with ``${VAR}`` read from the environment."""

    headers: Mapping[str, str]
    secrets: tuple[str, ...]
    _mask: redaction.Mask | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mask", redaction.mask((*self.secrets, *self.headers.values())))

    def redact(self, text: str | None) -> str | None:
        """``text`` with every secret and header value a receiver may have echoed back, in any
        form (``redaction.py``), blanked out."""
        return redaction.redact(text, self._mask)


def resolve(sub: Subscription, env: Mapping[str, str] | None = None) -> Credentials:
    """Fill in ``${VAR}`` references; ``DeliveryError`` names a missing variable."""
    env = os.environ if env is None else env

    def expand(where: str, text: str) -> str:
        def one(match: Any) -> str:
            name = match.group(1)
            if name not in env:
                raise DeliveryError(
                    f"subscription {sub.name!r}: {where} needs the environment variable "
                    f"{name}, which is not set"
                )
            return env[name]

        return ENV_REFERENCE.sub(one, text)

    headers = {name: expand(f"header {name}", value) for name, value in sub.headers.items()}
    secrets = tuple(expand("a secret", secret) for secret in sub.secrets)
    try:
        for name, value in headers.items():
            check_header(name, value)
        for secret in secrets:
            decode_secret(secret)
    except ValueError as exc:
        raise DeliveryError(f"subscription {sub.name!r}: {exc}") from None
    return Credentials(headers=with_url_credentials(sub.url, headers), secrets=secrets)


def with_url_credentials(url: str, headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers``, and the HTTP Basic ``Authorization`` a user name and password in ``url``
    stand for (``https://user:pass@host/``, as curl, requests and httpx send them), unless
    ``headers`` name an ``Authorization`` of their own; the request itself never carries them
    (its ``Host`` is the host alone)."""
    if "@" not in url or any(name.lower() == "authorization" for name in headers):
        return headers
    parsed = httpx.URL(url)
    if not (parsed.username or parsed.password):  # an @ in the path or query
        return headers
    pair = f"{parsed.username}:{parsed.password}".encode()
    return {**headers, "Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
