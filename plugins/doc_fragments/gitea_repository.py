# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The repository a Gitea module works inside (gitea_file, gitea_webhook).
    DOCUMENTATION = r"""
options:
  owner:
    description: User or organization that owns the repository.
    type: str
    required: true
  repo:
    description: Repository name.
    type: str
    required: true
"""
