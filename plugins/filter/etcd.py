# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def node_address(host_vars):
    """The address a node is reached on inside the cluster: k8s_node_ip, else ansible_host."""
    address = host_vars.get("k8s_node_ip") or host_vars.get("ansible_host")
    if not address:
        raise AnsibleFilterError("host %s has neither k8s_node_ip nor ansible_host"
                                 % host_vars.get("inventory_hostname", "?"))
    return str(address)


def etcd_client_url(host_vars, port=2379, scheme="https"):
    """The etcd client URL of a control-plane host from its variables: k8s_node_ip, else ansible_host."""
    address = node_address(host_vars)
    if ":" in address:  # IPv6 literal
        address = "[%s]" % address
    return "%s://%s:%d" % (scheme, address, int(port))


class FilterModule(object):
    def filters(self):
        return {"etcd_client_url": etcd_client_url, "node_address": node_address}
