"""module_utils/harbor.py: the option checks harbor_project and harbor_robot run before any call, and the robot plan
that regenerates a secret whose file is lost (issue 16)."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.harbor import (
    HarborError, apply_robot, check_duration, check_name, parse_size, plan_gives_secret, plan_robot, robot_state,
    wanted_permissions)


@pytest.mark.parametrize("name", ["lab", "platform", "a", "team-a.ml_1", "0x", "a" * 255])
def test_good_names(name):
    assert check_name(name, "name") == name


@pytest.mark.parametrize("name", ["", "Lab", "lab/x", "lab+ci", "-lab", "lab-", "a..b", "lab ci", "a" * 256, None, 5,
                                  ["lab"], "läb"])
def test_bad_names(name):
    with pytest.raises(HarborError, match="is not a Harbor name: use lower-case letters and digits"):
        check_name(name, "name")


@pytest.mark.parametrize("value,expected", [("-1", -1), ("0", 0), ("10Gi", 10 * 1024 ** 3), ("500M", 500 * 10 ** 6),
                                            (" 7 Ti ", 7 * 1024 ** 4), ("8388607Ti", 8388607 * 1024 ** 4)])
def test_sizes(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value,message", [
    ("20GB", "is not a size"), ("-5", "is not a size"), ("1.5Gi", "is not a size"), ("", "is not a size"),
    ("8388608Ti", "larger than Harbor can store"), ("9" * 30, "larger than Harbor can store"),
])
def test_bad_sizes(value, message):
    with pytest.raises(HarborError, match=message):
        parse_size(value)


@pytest.mark.parametrize("value,ok", [(-1, True), (0, True), (30, True), (2 ** 31 - 2, True), (-2, False),
                                      (2 ** 31 - 1, False), (10 ** 30, False), (True, False), ("30", False)])
def test_duration(value, ok):
    if ok:
        assert check_duration(value) == value
    else:
        with pytest.raises(HarborError, match="duration .* is out of range"):
            check_duration(value)


ROBOT = {"id": 7, "name": "robot$lab+ci", "description": "", "disable": False,
         "permissions": [{"kind": "project", "namespace": "lab", "access": [{"resource": "repository", "action": "pull"}]}]}
WANTED = {"name": "ci", "description": None, "duration": -1, "permissions": wanted_permissions("lab", ["pull"])}


@pytest.mark.parametrize("current,wanted_actions,state,secret_missing,plan", [
    (None, ["pull"], "present", False, [("create", None)]),
    (None, ["pull"], "present", True, [("create", None)]),  # a new robot brings its secret anyway
    (ROBOT, ["pull"], "present", False, []),
    (ROBOT, ["pull"], "present", True, [("refresh", None)]),
    (ROBOT, ["push", "pull"], "present", False, [("update", None)]),
    (ROBOT, ["push", "pull"], "present", True, [("update", None), ("refresh", None)]),
    (ROBOT, ["pull"], "absent", True, [("delete", None)]),
    (None, ["pull"], "absent", True, []),
])
def test_plan_robot(current, wanted_actions, state, secret_missing, plan):
    wanted = dict(WANTED, permissions=wanted_permissions("lab", wanted_actions))
    got = plan_robot(robot_state(current), wanted, state, secret_missing)
    assert got == plan
    assert plan_gives_secret(got) == any(step[0] in ("create", "refresh") for step in plan)


class Recorder(object):
    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def request(self, method, path, body=None):
        self.calls.append((method, path, body))
        return self.answers.get(method)


def test_apply_refresh_asks_harbor_to_generate_the_secret():
    client = Recorder({"PATCH": {"secret": "NewSecret1"}})
    assert apply_robot(client, ROBOT, WANTED, [("refresh", None)]) == {"name": "robot$lab+ci", "secret": "NewSecret1"}
    assert client.calls == [("PATCH", "/api/v2.0/robots/7", {})]


def test_apply_without_a_secret_in_the_answer_fails_clearly():
    for plan, answers in (([("refresh", None)], {"PATCH": {"secret": ""}}), ([("create", None)], {"POST": None})):
        with pytest.raises(HarborError, match="Harbor answered without the robot's secret"):
            apply_robot(Recorder(answers), ROBOT, WANTED, plan)


def test_apply_update_only_gives_no_secret():
    client = Recorder({})
    assert apply_robot(client, ROBOT, dict(WANTED, permissions=wanted_permissions("lab", ["push"])),
                       [("update", None)]) is None
    assert [c[0] for c in client.calls] == ["PUT"]
