# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MetalLB L2 address pools: parse the ranges and check them against the node subnet, the node addresses, the API
VIP and each other before anything is applied (pure functions, no I/O)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re


def parse_range(text):
    """'192.168.56.200-192.168.56.220' or '192.168.56.192/27' -> (first, last) ip_address objects."""
    text = str(text).strip()
    if "-" in text:
        first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
        if first.version != last.version or first > last:
            raise ValueError("%s: the first address must not come after the last" % text)
        return first, last
    net = ipaddress.ip_network(text, strict=True)
    return net[0], net[-1]


def _reserved(reserved):
    """[(ip_address, text, owner)] from addresses or (address, owner) pairs; entries that are not IP addresses are
    left out (another rule reports a VIP or node address that is not an IP)."""
    used = []
    for entry in reserved or ():
        address, owner = (entry[0], entry[1]) if isinstance(entry, (list, tuple)) else (entry, None)
        if not address:
            continue
        try:
            used.append((ipaddress.ip_address(str(address)), str(address), owner))
        except ValueError:
            continue
    return used


def check_pools(pools, subnet, reserved=()):
    """One sentence per problem. pools: [{name, addresses: [range, ...]}]; subnet: the nodes' L2 subnet (L2
    announcements only reach it); reserved: addresses in use (nodes, VIP) that no pool may hand out, each an address
    or an (address, owner) pair; with an owner ("node m1", "the API VIP k8s_api_vip") the problem names it."""
    problems = []
    try:
        net = ipaddress.ip_network(str(subnet), strict=False)
    except ValueError:
        return ["the node subnet %r is not a network (set k8s_node_subnet, e.g. 192.168.56.0/24)" % (subnet,)]
    used = _reserved(reserved)
    seen = []
    names = set()
    for pool in pools or []:
        name = str(pool.get("name", ""))
        if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name):
            problems.append("MetalLB pool %r: the name must be a DNS label" % name)
        if name in names:
            problems.append("MetalLB pool %r is listed twice" % name)
        names.add(name)
        if not pool.get("addresses"):
            problems.append("MetalLB pool %r has no addresses" % name)
        for text in pool.get("addresses") or []:
            try:
                first, last = parse_range(text)
            except ValueError as exc:
                problems.append("MetalLB pool %r: %s is not an address range or CIDR (%s)" % (name, text, exc))
                continue
            if first not in net or last not in net:
                problems.append("MetalLB pool %r: %s is not inside the node subnet %s, where L2 announcements "
                                "are heard" % (name, text, net))
            for addr, label, owner in used:
                if addr.version == first.version and first <= addr <= last:
                    problems.append("MetalLB pool %r: %s contains %s, which is already in use (%s)"
                                    % (name, text, label, owner or "a node or the API VIP"))
            for other_name, other_text, o_first, o_last in seen:
                if o_first.version == first.version and first <= o_last and o_first <= last:
                    problems.append("MetalLB pool %r: %s overlaps %s of pool %r" % (name, text, other_text, other_name))
            seen.append((name, text, first, last))
    return problems
