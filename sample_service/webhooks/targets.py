"""Which URLs a webhook may point at: never the shop's own network (SSRF, OWASP API7:2023).

A webhook makes the server send requests wherever a client says. Pointed at
``169.254.169.254`` it reads a cloud's instance credentials; at ``10.0.0.5:6379`` it talks
to an internal Redis. So every address the host resolves to must be public: private,
link-local, loopback, reserved, multicast and unspecified ranges are refused. Lab mode
(loopback only) admits ``127.0.0.1`` so a lesson's own receiver can listen; nothing else.
The check runs at registration and again before each delivery (DNS can change in between).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(ValueError):
    """The URL is malformed, does not resolve, or reaches an address webhooks may not."""


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is off limits, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-global"


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"the host {host!r} does not resolve ({exc})") from None
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=str)


def check_target(url: str, *, allow_loopback: bool = False) -> list[IPAddress]:
    """The addresses ``url`` reaches, once each is one webhooks may call; else UnsafeTarget.

    ``http://169.254.169.254/latest/meta-data/`` is refused as link-local, ``http://10.0.0.5/``
    as private, ``http://localhost:8000/`` as loopback unless ``allow_loopback``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise UnsafeTarget("a webhook URL may not carry credentials; the signature proves origin")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget(f"{url!r} has a bad port ({exc})") from None
    addresses = _resolve(parts.hostname, port)
    for address in addresses:
        kind = _kind(address)
        if kind is None or (kind == "loopback" and allow_loopback):
            continue
        why = "; lab mode admits loopback only" if allow_loopback else ""
        raise UnsafeTarget(
            f"{url} reaches {address}, a {kind} address: webhooks call public addresses only{why}"
        )
    return addresses
