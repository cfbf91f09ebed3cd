# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.tenants import TenantError, all_objects


def tenant_objects(tenants, settings, platform_namespaces=None):
    try:
        return all_objects(tenants, settings, platform_namespaces or [])
    except TenantError as exc:
        raise AnsibleFilterError("k8s_tenants: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"tenant_objects": tenant_objects}
