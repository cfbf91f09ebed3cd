# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.k3s import (
    K3sError, install_action, node_config, parse_version)


def k3s_node_config(settings, role):
    try:
        return node_config(role, settings)
    except (K3sError, KeyError) as exc:
        raise AnsibleFilterError("k3s config: %s" % exc)


def k3s_install_action(installed_output, wanted, allow_downgrade=False):
    try:
        return install_action(parse_version(installed_output), wanted, allow_downgrade)
    except K3sError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"k3s_node_config": k3s_node_config, "k3s_install_action": k3s_install_action}
