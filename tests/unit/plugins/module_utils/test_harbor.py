"""module_utils/harbor.py: the option checks harbor_project and harbor_robot run before any call, the robot plan
that regenerates a secret whose file is lost (issue 16), and the predictions (state after, writes) of both modules
as tables of (current, wanted, expected after, calls, changed)."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.harbor import (
    HarborError, apply_robot, check_duration, check_name, parse_size, plan_gives_secret, plan_robot, predict_project,
    predict_robot, robot_state, wanted_permissions)


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


# --- predictions ---------------------------------------------------------------------------------------------------

PROJECT = {"project_id": 3, "name": "lab", "metadata": {"public": "false", "auto_scan": "true"}}
QUOTA = {"id": 4, "hard": {"storage": -1}}
P_WANT = {"name": "lab", "public": None, "auto_scan": None, "storage_limit": None}
P_NOW = {"name": "lab", "public": False, "auto_scan": True, "storage_limit": -1}


@pytest.mark.parametrize("project,wanted,state,after,calls", [
    # created with Harbor's defaults where nothing is wanted
    (None, {}, "present", {"name": "lab", "public": False, "auto_scan": False, "storage_limit": -1},
     [("POST", "/api/v2.0/projects")]),
    (None, {"public": True, "storage_limit": 1024}, "present",
     {"name": "lab", "public": True, "auto_scan": False, "storage_limit": 1024}, [("POST", "/api/v2.0/projects")]),
    # as wanted, or nothing wanted: left alone
    (PROJECT, {}, "present", P_NOW, []),
    (PROJECT, {"public": False, "auto_scan": True, "storage_limit": -1}, "present", P_NOW, []),
    # one PUT per metadata key, the quota through its own record
    (PROJECT, {"public": True}, "present", dict(P_NOW, public=True), [("PUT", "/api/v2.0/projects/3")]),
    (PROJECT, {"public": True, "auto_scan": False, "storage_limit": 10}, "present",
     dict(P_NOW, public=True, auto_scan=False, storage_limit=10),
     [("PUT", "/api/v2.0/projects/3"), ("PUT", "/api/v2.0/projects/3"), ("PUT", "/api/v2.0/quotas/4")]),
    (PROJECT, {}, "absent", None, [("DELETE", "/api/v2.0/projects/3")]),
    (None, {}, "absent", None, []),
])
def test_predict_project(project, wanted, state, after, calls):
    pred = predict_project(project, QUOTA if project else None, dict(P_WANT, **wanted), state)
    assert pred["after"] == after and pred["calls"] == calls and pred["changed"] == bool(calls)
    assert pred["before"] == (P_NOW if project else None)
    assert len(pred["plan"]) == len(calls)


def test_predict_project_quota_without_a_record_is_refused_before_any_write():
    with pytest.raises(HarborError, match="has no quota record"):
        predict_project(PROJECT, None, dict(P_WANT, storage_limit=10), "present")


R_NOW = {"name": "robot$lab+ci", "description": "", "permissions": [["lab", "repository", "pull"]], "disabled": False}


@pytest.mark.parametrize("robot,actions,description,state,dest,stored,after,calls", [
    (None, ["pull"], None, "present", None, None, R_NOW, [("POST", "/api/v2.0/robots")]),
    (None, ["push", "pull"], "CI", "present", "/s", None,
     dict(R_NOW, description="CI", permissions=[["lab", "repository", "pull"], ["lab", "repository", "push"]],
          secret_stored=True), [("POST", "/api/v2.0/robots")]),
    (ROBOT, ["pull"], None, "present", None, None, R_NOW, []),
    (ROBOT, ["pull"], None, "present", "/s", "secret", dict(R_NOW, secret_stored=True), []),
    # the file is lost: a new secret (PATCH), nothing else
    (ROBOT, ["pull"], None, "present", "/s", None, dict(R_NOW, secret_stored=True), [("PATCH", "/api/v2.0/robots/7")]),
    (ROBOT, ["pull"], "new", "present", None, None, dict(R_NOW, description="new"), [("PUT", "/api/v2.0/robots/7")]),
    (ROBOT, ["pull"], None, "absent", "/s", None, None, [("DELETE", "/api/v2.0/robots/7")]),
    (None, ["pull"], None, "absent", None, None, None, []),
])
def test_predict_robot(robot, actions, description, state, dest, stored, after, calls):
    wanted = dict(WANTED, description=description, permissions=wanted_permissions("lab", actions))
    pred = predict_robot(robot, wanted, state, "lab", dest, stored)
    assert pred["after"] == after and pred["calls"] == calls and pred["changed"] == bool(calls)
    if robot is not None and dest is not None and state == "present":
        assert pred["before"]["secret_stored"] is bool(stored)
