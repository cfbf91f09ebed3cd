# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for a node's address inside the cluster (controller side): k8s_node_ip, else ansible_host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class NodeAddressError(ValueError):
    pass


def node_address(host_vars):
    """k8s_node_ip when the host sets it, ansible_host otherwise; NodeAddressError naming the host without either."""
    if not isinstance(host_vars, dict) and not hasattr(host_vars, "get"):
        raise NodeAddressError("the input is one host's variables (an element of hostvars), not %s"
                               % type(host_vars).__name__)
    address = host_vars.get("k8s_node_ip") or host_vars.get("ansible_host")
    if not address:
        raise NodeAddressError("host %s has neither k8s_node_ip nor ansible_host"
                               % host_vars.get("inventory_hostname", "?"))
    return str(address)
