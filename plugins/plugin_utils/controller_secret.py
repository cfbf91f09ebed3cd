# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller secrets: generate once into a 0600 file in a 0700 directory, read it on every later run.

Pure functions (shape rules, generation, validation of a stored value) and one small I/O function (read or create),
used by the controller_secret action plugin and tested on their own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import os
import re
import secrets
import string
import tempfile

FORMATS = ("password", "hex", "base64", "kubeadm_token")
_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_KUBEADM_TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
DEFAULT_LENGTH = {"password": 32, "hex": 64, "base64": 32, "kubeadm_token": 23}
# New passwords have at least 16 characters; a stored one of 8 or more is still read (keepalived's VRRP password
# of earlier releases had 8: its file keeps working).
MIN_STORED_PASSWORD = 8


class SecretError(Exception):
    """A request or a stored file that cannot be used; the message says what and what to do."""


def check_request(fmt, length):
    """The effective length for a format, or SecretError. base64's length counts random bytes before encoding."""
    if fmt not in FORMATS:
        raise SecretError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    if fmt == "kubeadm_token":
        if length not in (None, 23):
            raise SecretError("a kubeadm token always has 23 characters ([a-z0-9]{6}.[a-z0-9]{16}); leave length unset")
        return 23
    if length is None:
        return DEFAULT_LENGTH[fmt]
    if isinstance(length, bool) or not isinstance(length, int):
        raise SecretError("length must be a whole number, got %r" % (length,))
    if not 16 <= length <= 1024:
        raise SecretError("length must be between 16 and 1024 (is %d): shorter secrets are guessable" % length)
    if fmt == "hex" and length % 2:
        raise SecretError("a hex secret needs an even length (whole bytes), got %d" % length)
    return length


def generate(fmt, length, randbelow=secrets.randbelow, token_bytes=secrets.token_bytes):
    """A new secret of the format's shape (cryptographically random)."""
    length = check_request(fmt, length)
    if fmt == "password":
        return "".join(_ALNUM[randbelow(len(_ALNUM))] for _index in range(length))
    if fmt == "hex":
        return "".join("%02x" % b for b in bytearray(token_bytes(length // 2)))
    if fmt == "base64":
        return base64.b64encode(token_bytes(length)).decode("ascii")
    chars = "".join(_LOWER_ALNUM[randbelow(len(_LOWER_ALNUM))] for _index in range(22))
    return "%s.%s" % (chars[:6], chars[6:])


def stand_in(fmt, length):
    """What check mode returns when the file does not exist yet: the right shape, obviously not a real secret."""
    length = check_request(fmt, length)
    if fmt == "password":
        return ("checkmodestandin" * (length // 16 + 1))[:length]
    if fmt == "hex":
        return "0" * length
    if fmt == "base64":
        return base64.b64encode(b"\0" * length).decode("ascii")
    return "abcdef.0123456789abcdef"


def stored_problem(value, fmt, length):
    """Why a stored value does not have the requested shape (None when it does). Never includes the value."""
    length = check_request(fmt, length)
    if not value:
        return "the file is empty"
    if fmt == "password":
        if any(c not in _ALNUM for c in value):
            return "it holds characters other than letters and digits"
        if len(value) < MIN_STORED_PASSWORD:
            return "it holds %d characters, fewer than %d" % (len(value), MIN_STORED_PASSWORD)
        return None
    if fmt == "hex":
        if not re.match(r"^[0-9a-fA-F]+$", value) or len(value) % 2:
            return "it is not hex with whole bytes"
        return None
    if fmt == "base64":
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (ValueError, TypeError, UnicodeEncodeError):
            return "it is not valid base64"
        if len(raw) != length:
            return "it decodes to %d bytes, %d expected" % (len(raw), length)
        return None
    if not _KUBEADM_TOKEN.match(value):
        return "it is not a kubeadm token ([a-z0-9]{6}.[a-z0-9]{16})"
    return None


def read_or_create(path, fmt, length, check_mode=False, generator=generate):
    """Read the secret at path, or create it once (0600, directory 0700). Returns (secret, created, stand_in).

    The secret is written whole to a temporary file first, then linked to path, which fails when path exists: two
    forks asking at once end with one secret, and the loser reads the winner's complete file (never an empty one).
    In check mode nothing is written: a missing file yields a stand-in of the right shape.
    """
    length = check_request(fmt, length)
    if not path or not os.path.isabs(path):
        raise SecretError("path must be an absolute path on the controller, got %r" % (path,))
    if os.path.isdir(path):
        raise SecretError("%s is a directory; path names the file that holds the secret" % path)
    directory = os.path.dirname(path)
    if os.path.exists(path):
        return _read(path, fmt, length), False, False
    if check_mode:
        return stand_in(fmt, length), True, True
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise SecretError("%s is not a directory; it was to hold %s" % (directory, os.path.basename(path)))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    value = generator(fmt, length)
    try:
        fd, temp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)  # mode 0600
    except OSError as exc:
        raise SecretError("cannot create %s: %s; check the directory's owner and permissions" % (path, exc.strerror))
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        os.link(temp, path)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return _read(path, fmt, length), False, False
        raise SecretError("cannot create %s: %s; check the directory's owner and permissions" % (path, exc.strerror))
    finally:
        os.unlink(temp)
    return value, True, False


def _read(path, fmt, length):
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except (IOError, OSError) as exc:
        raise SecretError("cannot read %s: %s" % (path, getattr(exc, "strerror", exc)))
    except UnicodeDecodeError:
        raise SecretError("%s is not text; remove it to have a new secret generated" % path)
    problem = stored_problem(value, fmt, length)
    if problem:
        raise SecretError("%s does not hold a %s secret: %s. Fix the file or remove it to have a new one generated "
                          "(everything that used the old one must then be updated)." % (path, fmt, problem))
    return value
