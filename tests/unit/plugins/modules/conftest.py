import pytest
from ansible.module_utils import basic

from ansible_collections.aiinfra.cluster.tests.unit.plugins.modules.harness import exit_json, fail_json


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    """Every module test sees exit_json/fail_json raise ModuleExit instead of printing and exiting."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
