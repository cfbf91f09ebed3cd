# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release tags as comparable tuples, for k3s (v1.31.4+k3s1) and Kubernetes (v1.31.4) alike."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def version_key(pattern, tag, error, what):
    """The tag's numbers as a tuple of ints (pattern: a compiled regex whose groups are the numbers); `error` (an
    exception class) naming `what` a valid tag looks like otherwise."""
    m = pattern.fullmatch(tag or "")
    if not m:
        raise error("not a %s: %r" % (what, tag))
    return tuple(int(x) for x in m.groups())
