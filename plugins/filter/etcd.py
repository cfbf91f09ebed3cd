# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.node_address import NodeAddressError, node_address


def etcd_client_url(host_vars, port=2379, scheme="https"):
    """The etcd client URL of a control-plane host from its variables (the node_address rule)."""
    try:
        address = node_address(host_vars)
    except NodeAddressError as exc:
        raise AnsibleFilterError("etcd_client_url: %s" % exc)
    if ":" in address:  # IPv6 literal
        address = "[%s]" % address
    return "%s://%s:%d" % (scheme, address, int(port))


class FilterModule(object):
    def filters(self):
        return {"etcd_client_url": etcd_client_url}
