# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.node_address import NodeAddressError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.node_address import node_address as _node_address


def node_address(host_vars):
    """The address a node is reached on inside the cluster: k8s_node_ip, else ansible_host."""
    try:
        return _node_address(host_vars)
    except NodeAddressError as exc:
        raise AnsibleFilterError("node_address: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"node_address": node_address}
