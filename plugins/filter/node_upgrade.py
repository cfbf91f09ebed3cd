# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils import node_upgrade


def node_upgrade_step(resources, binary_action, wanted):
    if resources is not None and not isinstance(resources, (list, tuple)):
        raise AnsibleFilterError("node_upgrade_step: the input is the resources list of kubernetes.core.k8s_info "
                                 "for one Node, not %s" % type(resources).__name__)
    try:
        return node_upgrade.upgrade_step(binary_action, wanted, (resources or [None])[0])
    except node_upgrade.UpgradeError as exc:
        raise AnsibleFilterError("node_upgrade_step: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"node_upgrade_step": node_upgrade_step}
