"""Telling visitors apart by an address they cannot choose themselves.

Behind a tunnel every request reaches the app from the tunnel agent on loopback. The tunnel's
edge (ngrok's, for one) appends the address it saw to ``X-Forwarded-For``; everything to the left
of that entry was sent by the visitor and proves nothing. So only the last ``forwarded_hops``
entries are trusted, each proxy hop adding one, and only on connections from loopback (where the
agent runs). Anything else that is not a valid IP address makes the request one of the crowd:
``SHARED``, a single bucket for everyone no proxy vouches for.

IPv6 visitors are counted per /64 network, the block one home or phone is usually given, so that
cycling through one's own addresses does not multiply a limit.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional

SHARED = "shared"  # the key of every visitor whose address no trusted proxy gave
LOOPBACK_PEERS = ("127.0.0.1", "::1", "::ffff:127.0.0.1")  # a tunnel agent on this machine


def visitor_key(peer: Optional[str], forwarded_for: Iterable[str], forwarded_hops: int) -> str:
    """A short key for the visitor behind this connection.

    ``peer`` is the socket's remote address, ``forwarded_for`` every ``X-Forwarded-For`` header
    value in order, ``forwarded_hops`` how many proxies in front of the app append to it and are
    trusted (0: none, so a visitor's own header is ignored).
    """
    if peer not in LOOPBACK_PEERS:
        return _address_key(peer) or SHARED  # a direct connection: the socket tells the truth
    if forwarded_hops < 1:
        return SHARED
    entries = ",".join(forwarded_for).rsplit(",", forwarded_hops)
    if len(entries) <= forwarded_hops - 1:
        return SHARED
    # The leftmost of the trusted entries is the address the outermost trusted proxy saw.
    return _address_key(entries[-forwarded_hops].strip()) or SHARED


def _address_key(text: Optional[str]) -> Optional[str]:
    if not text or len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
