# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The same function the preflight module checks the registry address with (the module needs it in module_utils).
from ansible_collections.aiinfra.cluster.plugins.module_utils.preflight import registry_endpoint


class FilterModule(object):
    def filters(self):
        return {"registry_endpoint": registry_endpoint}
