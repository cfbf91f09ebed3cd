"""controller_secret: shapes, generation, the stored-file rules and the check-mode stand-in, on real files."""

import base64
import os
import stat
import threading

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils.controller_secret import (
    SecretError, check_request, generate, read_or_create, stand_in, stored_problem)


@pytest.mark.parametrize("fmt,length,check", [
    ("password", 32, lambda s: len(s) == 32 and s.isalnum()),
    ("password", 48, lambda s: len(s) == 48 and s.isalnum()),
    ("hex", 40, lambda s: len(s) == 40 and all(c in "0123456789abcdef" for c in s)),
    ("base64", 32, lambda s: len(base64.b64decode(s)) == 32),
    ("kubeadm_token", None, lambda s: len(s) == 23 and s[6] == "." and s.replace(".", "").isalnum() and s == s.lower()),
])
def test_generated_and_stand_in_values_have_the_shape(fmt, length, check):
    value = generate(fmt, length)
    assert check(value)
    assert stored_problem(value, fmt, length) is None
    fake = stand_in(fmt, length)
    assert check(fake) and stored_problem(fake, fmt, length) is None
    assert generate(fmt, length) != value  # random, not fixed


@pytest.mark.parametrize("fmt,length,message", [
    ("pin", 8, "format must be one of"),
    ("password", 8, "between 16 and 1024"),
    ("password", 10 ** 6, "between 16 and 1024"),
    ("password", "32", "whole number"),
    ("password", True, "whole number"),
    ("hex", 41, "even length"),
    ("kubeadm_token", 40, "always has 23 characters"),
])
def test_bad_requests_are_refused(fmt, length, message):
    with pytest.raises(SecretError, match=message):
        check_request(fmt, length)


@pytest.mark.parametrize("value,fmt,length,problem", [
    ("", "password", 32, "empty"),
    ("short1", "password", 32, "fewer than 8"),
    ("with space and more chars", "password", 32, "other than letters"),
    ("xyz0", "hex", 64, "not hex"),
    ("abc", "hex", 64, "not hex"),
    ("!!notbase64", "base64", 32, "not valid base64"),
    (base64.b64encode(b"x" * 16).decode(), "base64", 32, "16 bytes, 32 expected"),
    ("ABCDEF.0123456789abcdef", "kubeadm_token", None, "not a kubeadm token"),
])
def test_stored_values_of_the_wrong_shape_are_named_not_shown(value, fmt, length, problem):
    found = stored_problem(value, fmt, length)
    assert problem in found
    if value:
        assert value not in found


def test_created_once_0600_in_a_0700_directory_then_read(tmp_path):
    path = str(tmp_path / "creds" / "sub" / "admin-password")
    value, created, fake = read_or_create(path, "password", 32)
    assert created and not fake
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path) as handle:
        assert handle.read() == value + "\n"
    again, created, fake = read_or_create(path, "password", 32)
    assert (again, created, fake) == (value, False, False)


def test_check_mode_writes_nothing_and_says_stand_in(tmp_path):
    path = str(tmp_path / "creds" / "token")
    value, created, fake = read_or_create(path, "kubeadm_token", None, check_mode=True)
    assert created and fake and value == stand_in("kubeadm_token", None)
    assert not os.path.exists(os.path.dirname(path))
    real, _created, _fake = read_or_create(path, "kubeadm_token", None)
    assert read_or_create(path, "kubeadm_token", None, check_mode=True) == (real, False, False)


def test_concurrent_creators_end_with_one_secret(tmp_path):
    path = str(tmp_path / "shared")
    results, errors = [], []
    barrier = threading.Barrier(8)

    def slow_generate(fmt, length):
        barrier.wait()
        return generate(fmt, length)

    def worker():
        try:
            results.append(read_or_create(path, "password", 32, generator=slow_generate))
        except SecretError as exc:  # a loser that read the winner's file before it was written ("the file is empty")
            errors.append(str(exc))

    threads = [threading.Thread(target=worker) for _index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(path) as handle:
        stored = handle.read().strip()
    assert errors == []
    assert len(results) == 8
    assert {value for value, _created, _stand_in in results} == {stored}
    assert [created for _value, created, _stand_in in results].count(True) == 1
    assert os.listdir(str(tmp_path)) == ["shared"]  # no temporary file left
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("setup,message", [
    ("dir", "is a directory"),
    ("relative", "absolute path"),
    ("parent_is_file", "is not a directory"),
    ("bad_content", "does not hold a hex secret"),
])
def test_unusable_paths_fail_clearly_and_change_nothing(tmp_path, setup, message):
    if setup == "dir":
        path = str(tmp_path)
    elif setup == "relative":
        path = "creds/x"
    elif setup == "parent_is_file":
        (tmp_path / "file").write_text("x")
        path = str(tmp_path / "file" / "x")
    else:
        (tmp_path / "key").write_text("not-hex\n")
        path = str(tmp_path / "key")
    with pytest.raises(SecretError, match=message):
        read_or_create(path, "hex", 40)
    if setup == "bad_content":
        assert (tmp_path / "key").read_text() == "not-hex\n"
