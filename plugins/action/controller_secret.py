# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible_collections.aiinfra.cluster.plugins.plugin_utils.controller_secret import SecretError, read_or_create


class ActionModule(ActionBase):
    """Runs on the controller only: reads or creates the secret file there, whatever host the task is for."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "format", "length"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        unknown = sorted(set(args) - self._VALID_ARGS)
        if unknown:
            return dict(result, failed=True, msg="controller_secret: unsupported parameters %s (valid: format, length, path)"
                        % ", ".join(unknown))
        path = args.get("path")
        fmt = args.get("format", "password")
        length = args.get("length")
        if isinstance(length, str) and length.strip().isdigit():
            length = int(length)
        try:
            value, created, is_stand_in = read_or_create(path, fmt, length, check_mode=self._task.check_mode)
        except SecretError as exc:
            return dict(result, failed=True, msg="controller_secret: %s" % exc)
        result.update(
            changed=created,
            path=path,
            secret=value,
            stand_in=is_stand_in,
            _ansible_no_log=True,
        )
        if is_stand_in:
            result["msg"] = "check mode: %s would be created; a stand-in of the same shape is returned" % path
        if self._task.diff and created:
            result["diff"] = {"before": {"path": path, "exists": False}, "after": {"path": path, "exists": True}}
        return result
