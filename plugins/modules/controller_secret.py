#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: controller_secret
short_description: A credential generated once into a 0600 file on the controller, read on every later run
version_added: 0.3.0
description:
  - Reads the secret in O(path) on the controller, or generates it there once (cryptographically random) when the file
    does not exist, with mode 0600 in a directory created with mode 0700.
  - Always runs on the controller, whatever host the task is for; concurrent tasks asking for the same new file end
    with one secret (the file is created exclusively, the others read it).
  - A stored value that does not have the requested shape fails the task, naming the file and the problem (never the
    value); nothing is overwritten.
  - The result is always censored in the output (the secret is in RV(secret) of the registered variable only).
author:
  - aiinfra.cluster contributors (@aiinfra)
options:
  path:
    description: Absolute path of the file on the controller.
    type: path
    required: true
  format:
    description:
      - Shape of the secret. V(password) letters and digits; V(hex) lowercase hex; V(base64) base64 of O(length) random
        bytes (a 32-byte AES key for Kubernetes' EncryptionConfiguration); V(kubeadm_token) C([a-z0-9]{6}.[a-z0-9]{16}).
    type: str
    choices: [password, hex, base64, kubeadm_token]
    default: password
  length:
    description:
      - Characters (V(password), V(hex), even) or random bytes (V(base64)), 16 to 1024. Defaults 32, 64 and 32. Not
        used with V(kubeadm_token).
    type: int
attributes:
  check_mode:
    support: full
    description: An existing file is read; a missing one is not created, and a stand-in of the right shape is returned with RV(stand_in=true).
  diff_mode:
    support: partial
    description: Says whether the file is created (never the secret).
  action:
    support: full
    description: Runs as an action plugin on the controller.
seealso:
  - module: ansible.builtin.password
    description: The password lookup also stores generated passwords, but cannot report a change or honour check mode.
"""

EXAMPLES = r"""
- name: The Grafana admin password (generated on the first run)
  aiinfra.cluster.controller_secret:
    path: "{{ k8s_credentials_dir }}/grafana-admin-password"
  register: grafana_admin

- name: An AES-CBC key for the API server's EncryptionConfiguration
  aiinfra.cluster.controller_secret:
    path: "{{ k8s_credentials_dir }}/encryption-key"
    format: base64
    length: 32
  register: encryption_key
"""

RETURN = r"""
secret:
  description: The secret (or, in check mode before the file exists, a stand-in of the same shape).
  returned: success
  type: str
path:
  description: The file that holds it.
  returned: success
  type: str
stand_in:
  description: True in check mode when the file does not exist yet and RV(secret) is a stand-in.
  returned: success
  type: bool
"""
