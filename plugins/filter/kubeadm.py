# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.aiinfra.cluster.plugins.plugin_utils import kubeadm


def _wrap(func):
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (kubeadm.KubeadmError, KeyError) as exc:
            raise AnsibleFilterError("kubeadm: %s" % exc)
    return wrapped


def kubeadm_node_documents(settings, role):
    return kubeadm.node_documents(role, settings)


def kubeadm_upgrade_action(installed_output, wanted, allow_downgrade=False):
    return kubeadm.upgrade_action(kubeadm.parse_version(installed_output), wanted, allow_downgrade)


def kubeadm_encryption_configuration(keys, provider):
    return kubeadm.encryption_configuration(provider, keys)


def kubeadm_encryption_rotation(node_files, write_key, provider, controller_keys):
    return kubeadm.rotation_plan(node_files, write_key, provider, controller_keys)


class FilterModule(object):
    def filters(self):
        return {
            "kubeadm_node_documents": _wrap(kubeadm_node_documents),
            "kubeadm_upgrade_action": _wrap(kubeadm_upgrade_action),
            "kubeadm_encryption_configuration": _wrap(kubeadm_encryption_configuration),
            "kubeadm_ca_cert_hash": _wrap(kubeadm.ca_cert_hash),
            "kubeadm_rotate_keys": _wrap(kubeadm.rotate_keys),
            "kubeadm_encryption_rotation": _wrap(kubeadm_encryption_rotation),
            "kubeadm_upload_certs_documents": _wrap(kubeadm.upload_certs_documents),
            "kubeadm_created_token": _wrap(kubeadm.created_token),
            "kubeadm_token_id": _wrap(kubeadm.token_id),
        }
