"""Following a redirect as a webhook must: the same POST, to the same host, or not at all.

A browser (and httpx) turns a POST answered 301, 302 or 303 into a GET without a body; for a
webhook that would reach the new address without the payload, and its 2xx would count as
delivered. So every redirect status is followed by repeating the POST with its body and
headers (signature and the subscription's own headers included), through the same
public-address guard (``guard.py``: each new connection is checked), at most
``sender.MAX_REDIRECTS`` times.

The request carries the subscription's credentials, set for the host it names; so a redirect
is followed only within that host (http may become https, the port may change). A redirect to
another host, from https to http, or to a location that is not an http(s) URL is refused: the
attempt fails with the redirect's status and the reason, and is retried on the schedule until
the subscription's URL is changed. Svix, GitHub and Chargebee follow no webhook redirect at
all; this keeps the common same-host moves (a new path, the http-to-https upgrade) working.
"""

from __future__ import annotations

import httpx

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HINT = "set the subscription's URL to the final address"


class Refused(Exception):
    """A redirect that is not followed; the message says why, for the attempt log."""


def location(response: httpx.Response) -> str | None:
    """Where a redirect points, or ``None`` when the response is not one."""
    if response.status_code not in REDIRECT_STATUSES:
        return None
    return response.headers.get("location") or None


def follow(request: httpx.Request, status: int, target: str) -> httpx.Request:
    """The request to make after ``request`` was answered ``status`` with ``Location: target``:
    the same method, body and headers at the new URL. ``Refused`` when it may not be made."""
    try:
        url = request.url.join(target)
    except httpx.InvalidURL as exc:
        raise Refused(f"redirected ({status}) to an invalid location: {exc}; {HINT}") from None
    refusal = _refusal(request.url, url)
    if refusal:
        raise Refused(f"redirected ({status}) {refusal}, not followed; {HINT}")
    headers = httpx.Headers(request.headers)
    headers.pop("Host", None)
    return httpx.Request(
        request.method, url, content=request.content, headers=headers, extensions=request.extensions
    )


def _refusal(source: httpx.URL, url: httpx.URL) -> str | None:
    if url.scheme not in {"http", "https"}:
        return f"to a {url.scheme or 'relative'} URL"
    if url.host != source.host:
        return f"to another host, {url.host}"
    if source.scheme == "https" and url.scheme == "http":
        return "from https to http"
    return None
