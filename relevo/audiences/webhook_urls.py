"""Where a webhook may be posted: public http(s) addresses only, checked when an audience is
saved and again at each delivery, so that a webhook URL cannot make Relevo's server reach the
shop's own network (SSRF): its loopback, private ranges, link-local ones with the cloud
metadata service (169.254.169.254, fd00:ec2::254), CGNAT, multicast, unspecified or reserved
addresses, in IPv4 and IPv6, including IPv4 written inside IPv6 (::ffff:127.0.0.1, 6to4,
NAT64) and the decimal, octal and hex forms of IPv4 (http://2130706433/, http://0177.1/).

A name is checked by what it resolves to, every address of it. At delivery the name is
resolved again, checked again, and the connection goes to the address that was checked (never
resolved a second time by the HTTP client), so a DNS answer that changes between the check and
the connection (rebinding) reaches nothing. Redirects are not followed: a 3xx is a failure.

An on-premise installation posting to its own network sets RELEVO_WEBHOOK_ALLOW_PRIVATE=true;
the scheme, the form of the URL and the resolution are checked all the same.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from relevo.errors import RelevoError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]  # host, port -> its addresses

ALLOW_SETTING = "RELEVO_WEBHOOK_ALLOW_PRIVATE=true"
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")


class UnsafeWebhookUrl(RelevoError):
    """A webhook URL Relevo will not post to (400 when saved; a failed attempt at delivery)."""

    code = "unsafe_webhook_url"


class DeliveryFailed(Exception):
    """The receiver answered, but not with a 2xx."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the URL (the Host header and the TLS name)
    port: int
    path: str  # with the query
    addresses: tuple[Address, ...]  # checked; the connection goes to one of these


def system_resolver(host: str, port: int) -> list[str]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def _ipv4_number(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)  # raises on 8 and 9, as inet_aton refuses them
    return int(label)


def literal_address(host: str) -> Address | None:
    """The address a host written as one means (None: a name), in every form inet_aton reads:
    dotted, one number, two or three parts, octal and hex parts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.lower().removesuffix(".").split(".")
    if not labels or not all(_NUMBER.fullmatch(label) for label in labels):
        return None
    try:
        numbers = [_ipv4_number(label) for label in labels]
    except ValueError:
        raise UnsafeWebhookUrl(f"webhook_url: {host!r} is not a valid IPv4 address") from None
    *head, last = numbers
    if len(numbers) > 4 or any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UnsafeWebhookUrl(f"webhook_url: {host!r} is not a valid IPv4 address")
    value = 0
    for number in head:
        value = value * 256 + number
    return ipaddress.IPv4Address(value * 256 ** (5 - len(numbers)) + last)


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries, which is where a packet to it ends up."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):  # ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden(address: Address) -> str | None:
    """What kind of address this is when it is not a public one (None: public)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        inner = _embedded(address)
        if inner is not None:
            why = forbidden(inner)
            return None if why is None else f"{why} (as {inner} inside IPv6)"
    if address in _METADATA:
        return "cloud metadata"
    checks = [
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared (CGNAT)"),
        (address.is_private, "private"),
        (isinstance(address, ipaddress.IPv6Address) and address.is_site_local, "site-local"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    ]
    return next((why for bad, why in checks if bad), None)


def check_webhook_url(url: str, allow_private: bool, resolve: Resolver = system_resolver) -> Target:
    """The target of a webhook URL, every address of it checked; UnsafeWebhookUrl says why
    not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeWebhookUrl(f"webhook_url is not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeWebhookUrl(f"webhook_url: only http and https URLs, not {scheme or 'none'}")
    host = parts.hostname
    if not host:
        raise UnsafeWebhookUrl("webhook_url has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl(
            "webhook_url: no user or password in the URL (receivers verify the signature)"
        )
    port = port or (443 if scheme == "https" else 80)
    literal = literal_address(host)
    if literal is not None:
        addresses: tuple[Address, ...] = (literal,)
    else:
        try:
            found = resolve(host, port)
            addresses = tuple(ipaddress.ip_address(a.split("%")[0]) for a in found)
        except (OSError, UnicodeError, ValueError) as error:
            raise UnsafeWebhookUrl(f"webhook_url: {host} does not resolve ({error})") from None
        if not addresses:
            raise UnsafeWebhookUrl(f"webhook_url: {host} does not resolve")
    if not allow_private:
        for address in addresses:
            why = forbidden(address)
            if why is not None:
                shown = host if literal is not None else f"{host} ({address})"
                raise UnsafeWebhookUrl(
                    f"webhook_url: {shown} is a {why} address; webhooks go to public "
                    f"addresses only (an on-premise receiver: set {ALLOW_SETTING})"
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, addresses)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a checked address, with the URL's host in the Host header."""

    def __init__(self, target: Target, address: Address, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPS(_PinnedHTTP):
    """HTTPS to a checked address; the certificate is verified for the URL's host."""

    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


class WebhookSender:
    """Posts a delivery (relevo.audiences.job `Sender`): the URL checked again now, the
    connection to the address checked, a 2xx or an error."""

    def __init__(
        self, allow_private: bool, resolve: Resolver = system_resolver, timeout: float = 5.0
    ) -> None:
        self.allow_private, self.resolve, self.timeout = allow_private, resolve, timeout

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        target = check_webhook_url(url, self.allow_private, self.resolve)
        kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
        connection = kind(target, target.addresses[0], self.timeout)
        try:
            connection.request("POST", target.path, body=body, headers=dict(headers))
            answer = connection.getresponse()
            answer.read(1024)
        finally:
            connection.close()
        if not 200 <= answer.status < 300:
            raise DeliveryFailed(f"HTTP Error {answer.status}: {answer.reason}")
