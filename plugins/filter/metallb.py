# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aiinfra.cluster.plugins.module_utils.address_pools import check_pools


def metallb_pool_problems(pools, subnet, reserved=None):
    return check_pools(pools, subnet, reserved or [])


class FilterModule(object):
    def filters(self):
        return {"metallb_pool_problems": metallb_pool_problems}
