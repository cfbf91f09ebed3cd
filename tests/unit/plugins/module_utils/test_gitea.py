"""module_utils/gitea.py: the option checks of the Gitea modules (before any call) and file entries that are not
files (issue 16)."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.module_utils.gitea import (
    check_file_params, check_gitea_name, check_hook_params, check_repo_file_path, check_repo_params,
    check_token_params, file_state)
from ansible_collections.aiinfra.cluster.plugins.module_utils.rest import InputError


@pytest.mark.parametrize("name", ["platform", "gitea_admin", "demo-app", "Demo.App", "a", "x" * 100])
def test_good_names(name):
    assert check_gitea_name(name, "owner") == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a b", "x" * 101, None, 3, "ä"])
def test_bad_names(name):
    with pytest.raises(InputError, match="is not a Gitea name"):
        check_gitea_name(name, "owner")


@pytest.mark.parametrize("path,expected", [("Jenkinsfile", "Jenkinsfile"), ("/apps/demo.yaml", "apps/demo.yaml"),
                                           ("apps/demo.yaml/", "apps/demo.yaml"), (".github/x.yml", ".github/x.yml")])
def test_good_paths(path, expected):
    assert check_repo_file_path(path) == expected


@pytest.mark.parametrize("path", ["", "/", "//", "a//b", "../x", "a/../b", "a/./b", ".", " a", "a /b", None])
def test_bad_paths(path):
    with pytest.raises(InputError, match="is not a file path in a repository"):
        check_repo_file_path(path)


def test_module_checks():
    check_repo_params({"owner": "platform", "name": "demo", "default_branch": None})
    with pytest.raises(InputError, match="default_branch is empty"):
        check_repo_params({"owner": "platform", "name": "demo", "default_branch": ""})
    check_file_params({"owner": "o", "repo": "r", "path": "a/b", "branch": None, "commit_message": None})
    with pytest.raises(InputError, match="commit_message is empty"):
        check_file_params({"owner": "o", "repo": "r", "path": "a/b", "branch": None, "commit_message": " "})
    hook = {"owner": "o", "repo": "r", "hook_url": "http://jenkins:8080/gitea-webhook/post", "events": ["push"],
            "branch_filter": "*"}
    check_hook_params(hook)
    check_hook_params(dict(hook, hook_url="https://ci.example/hook?token=abc"))
    for bad, message in (({"hook_url": "file:///etc/passwd"}, "hook_url has the scheme file://"),
                         ({"events": []}, "events"), ({"branch_filter": ""}, "branch_filter is empty")):
        with pytest.raises(InputError, match=message):
            check_hook_params(dict(hook, **bad))
    check_token_params({"name": "jenkins", "user": None, "scopes": ["read:user"]})
    for bad, message in (({"name": ""}, "name is empty"), ({"scopes": []}, "scopes"),
                         ({"user": "a/b"}, "user 'a/b' is not a Gitea name")):
        with pytest.raises(InputError, match=message):
            check_token_params(dict({"name": "jenkins", "user": None, "scopes": ["read:user"]}, **bad))


@pytest.mark.parametrize("entry,message", [
    ([{"type": "file", "path": "apps/a.yaml"}], "it is a directory, not a file"),
    ("text", "not a file entry"),
    ({"type": "dir", "path": "apps"}, "apps is a dir, not a file"),
    ({"type": "file", "path": "a", "content": "QQ"}, "Incorrect padding"),
    ({"type": "file", "path": "a", "content": "//79"}, "codec can't decode"),
])
def test_file_entries_that_are_not_text_files(entry, message):
    with pytest.raises(ValueError, match=message):
        file_state(entry)
