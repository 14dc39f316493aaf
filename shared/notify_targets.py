"""Where the server may send a notice: the SSRF rule, written once for submit and send time.

A notice target is a URL a *user* typed; the workers POST to it, from inside the
cluster, possibly on a cloud GPU box. Without a rule, ``http://169.254.169.254/…``
(cloud metadata), ``http://127.0.0.1:6379/`` or ``http://10.0.0.5/admin`` would be
reached on the user's behalf. Following OWASP's SSRF guidance, a target must be
http(s), and **every address its host resolves to** must be a public unicast address:
loopback, link-local, private, shared (CGNAT), reserved, multicast and unspecified
addresses are refused, in any spelling (``[::1]``, ``[::ffff:127.0.0.1]``,
``2130706433``, ``0x7f000001``, ``127.1``: the system resolver normalises them all,
and the check is on what it returns, never on the text).

The check runs at submit time (a 400 naming the field) and again at send time,
where :func:`vetted_connection` makes the check and the connection one step: the
socket connects only to an address that was just checked, so a name whose DNS
changes after the check (rebinding) cannot slip through, and a redirect to an
internal address fails the same way.

``NOTIFY_ALLOW_PRIVATE=true`` lifts the address rule (an internal receiver, tests
with a local one); ``NOTIFY_ALLOWED_HOSTS`` names hosts exempt from it one by one.
The operator's own ``NOTIFY_URL`` is configuration, not user input: its host is
trusted like an allowed host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class TargetPolicy:
    #: Lift the address rule entirely (NOTIFY_ALLOW_PRIVATE=true).
    allow_private: bool = False
    #: Host names (lower case) allowed whatever they resolve to (NOTIFY_ALLOWED_HOSTS).
    allowed_hosts: frozenset[str] = frozenset()

    def exempt(self, host: str) -> bool:
        return self.allow_private or host.lower().rstrip(".") in self.allowed_hosts


class TargetRefused(ValueError):
    """The URL may not receive notices; the message says why, for the user."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, as a connection would)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"the host {host!r} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal_for_address(raw: str) -> str | None:
    """Why notices may not go to this address, or None for a public unicast address."""
    address: Address = ipaddress.ip_address(raw.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"{address}, a {kind.replace('_', '-')} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def split_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a notice URL; TargetRefused for anything but http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http:// or https:// URL")
    return parts.scheme, parts.hostname, port


def vetted_addresses(host: str, port: int, policy: TargetPolicy, resolve: Resolver = system_resolver) -> list[str]:
    """The addresses of ``host`` a notice may connect to; TargetRefused if any is internal
    (one internal address is enough to refuse: which one a client picks is not ours)."""
    addresses = resolve(host, port)
    if policy.exempt(host):
        return addresses
    for address in addresses:
        problem = refusal_for_address(address)
        if problem:
            raise TargetRefused(
                f"the host {host!r} resolves to {problem}; notices go only to "
                "public addresses (NOTIFY_ALLOW_PRIVATE or NOTIFY_ALLOWED_HOSTS "
                "lift this)"
            )
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    return addresses


def check_target(url: str, policy: TargetPolicy, resolve: Resolver = system_resolver) -> str | None:
    """What is wrong with ``url`` as a notice target, or None (submit time)."""
    try:
        _, host, port = split_target(url)
        if policy.exempt(host):
            return None  # lifted: the web tier need not even see the receiver's DNS
        vetted_addresses(host, port, policy, resolve)
    except TargetRefused as exc:
        return str(exc)
    return None


def vetted_connection(policy: TargetPolicy, resolve: Resolver = system_resolver) -> Callable[..., socket.socket]:
    """A drop-in for :func:`socket.create_connection` that connects only to vetted
    addresses of the host it is given (send time: check and connect in one step)."""

    def connect(
        address: tuple[str, int], timeout: float | None = None, source_address: tuple[str, int] | None = None, **_: object
    ) -> socket.socket:
        host, port = address
        last: OSError | None = None
        for ip in vetted_addresses(host, port, policy, resolve):
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                last = exc
        raise last or OSError(f"could not connect to {host}")

    return connect


def mask_url(url: str | None) -> str | None:
    """A stored secret URL as it may be shown: scheme and host, the rest elided
    (a Slack incoming-webhook URL *is* the secret)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}/…"
