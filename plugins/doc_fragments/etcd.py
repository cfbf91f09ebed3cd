# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the etcd modules reach etcd (mirrors ETCD_CONNECTION_SPEC in module_utils/etcd.py).
    DOCUMENTATION = r"""
options:
  endpoints:
    description: Client URLs of the etcd members.
    type: list
    elements: str
    default: ["https://127.0.0.1:2379"]
  cacert:
    description: CA bundle of the etcd server certificates.
    type: path
  cert:
    description: Client certificate.
    type: path
  key:
    description: Client key.
    type: path
  etcdctl:
    description: The etcdctl binary (name on PATH or absolute path).
    type: str
    default: etcdctl
requirements:
  - etcdctl 3.4 or later on the host
"""
