# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.containerd import (
    RegistryConfigError, merged_config_problems, registry_files)


def containerd_registry_files(entries, certs_dir="/etc/containerd/certs.d"):
    """The certs.d directories, hosts.toml texts and CA files for a list of registry entries."""
    try:
        return registry_files(entries, certs_dir)
    except RegistryConfigError as exc:
        raise AnsibleFilterError("node_baseline_registries: %s" % exc)


def containerd_config_problems(dump_text, expected):
    """One line per setting node_baseline made that containerd's merged configuration (config dump) lacks."""
    try:
        return merged_config_problems(dump_text, expected)
    except RegistryConfigError as exc:
        raise AnsibleFilterError("containerd_config_problems: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"containerd_registry_files": containerd_registry_files,
                "containerd_config_problems": containerd_config_problems}
