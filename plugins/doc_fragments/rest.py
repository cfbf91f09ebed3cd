# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the service API modules reach their API (mirrors REST_SPEC in module_utils/rest.py).
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the service, for example V(https://192.168.56.11:30003).
      - Only C(http://) and C(https://) URLs with a host are accepted (no other scheme, no credentials, query or
        fragment); anything else fails the task before a request is made.
    type: str
    required: true
  username:
    description:
      - User for basic authentication. Must not be empty when set.
      - Harbor's API takes only basic authentication. Gitea takes O(token) or basic authentication, except for
        creating API tokens (M(aiinfra.cluster.gitea_token)), which takes basic authentication only. The rules are
        one table, C(SERVICE_AUTH) in C(module_utils/rest.py).
    type: str
  password:
    description: Password for basic authentication (never logged). Must not be empty when set.
    type: str
  token:
    description:
      - API token (never logged), preferred to basic authentication where the service accepts one for the call
        (Gitea sends it as C(Authorization token ...)). Must not be empty when set.
    type: str
  validate_certs:
    description: Check the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate; with O(validate_certs) it is verified against this CA.
      - Must be an existing file; anything else fails the task before a request is made.
    type: path
  timeout:
    description: Seconds one request may take, 1 to 3600.
    type: int
    default: 30
"""
