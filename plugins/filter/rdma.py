# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.module_utils import rdma


def rdma_problems(settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("rdma_problems: expects a mapping of settings, got %s" % type(settings).__name__)
    return rdma.problems(settings)


class FilterModule(object):
    def filters(self):
        return {"rdma_problems": rdma_problems}
