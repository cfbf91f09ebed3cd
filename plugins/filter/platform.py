# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.module_utils.address_pools import check_pools
from ansible_collections.aiinfra.cluster.plugins.module_utils.jenkins import job_config_differs
from ansible_collections.aiinfra.cluster.plugins.module_utils.preflight import registry_endpoint
from ansible_collections.aiinfra.cluster.plugins.module_utils.tenants import TenantError, all_objects


def tenant_objects(tenants, settings, platform_namespaces=None):
    try:
        return all_objects(tenants, settings, platform_namespaces or [])
    except TenantError as exc:
        raise AnsibleFilterError("security_tenants: %s" % exc)


def metallb_pool_problems(pools, subnet, reserved=None):
    return check_pools(pools, subnet, reserved or [])


def jenkins_job_config_differs(current, wanted):
    try:
        return job_config_differs(current, wanted)
    except Exception as exc:  # ElementTree raises ParseError (a SyntaxError) with the line and column
        raise AnsibleFilterError("jenkins_job_config_differs: not a job configuration (XML): %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"tenant_objects": tenant_objects, "metallb_pool_problems": metallb_pool_problems,
                "registry_endpoint": registry_endpoint, "jenkins_job_config_differs": jenkins_job_config_differs}
