"""Telling visitors apart by an address they cannot choose themselves.

The address is the socket's, or, behind trusted proxies, the one the outermost trusted proxy saw
(``proxies.py`` puts it in ``request.remote_addr``, as Werkzeug's ProxyFix does). A request that
still comes from loopback was forwarded by a local agent no proxy count vouches for (a tunnel
agent, Jupyter's proxy): it is one of the crowd, ``SHARED``, a single bucket for everyone no
proxy vouches for. So is anything that is not a valid IP address.

IPv6 visitors are counted per /64 network, the block one home or phone is usually given, so that
cycling through one's own addresses does not multiply a limit.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

SHARED = "shared"  # the key of every visitor whose address no trusted proxy gave
LOOPBACK_PEERS = ("127.0.0.1", "::1", "::ffff:127.0.0.1")  # a tunnel agent on this machine


def visitor_key(address: Optional[str]) -> str:
    """A short key for the visitor at ``address`` (``request.remote_addr`` after the trusted
    proxies' headers are applied)."""
    if address in LOOPBACK_PEERS:
        return SHARED
    return _address_key(address) or SHARED


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
