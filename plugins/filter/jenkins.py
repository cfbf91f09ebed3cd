# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.jenkins import job_config_differs


def jenkins_job_config_differs(current, wanted):
    try:
        return job_config_differs(current, wanted)
    except Exception as exc:  # ElementTree raises ParseError (a SyntaxError) with the line and column
        raise AnsibleFilterError("jenkins_job_config_differs: not a job configuration (XML): %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"jenkins_job_config_differs": jenkins_job_config_differs}
