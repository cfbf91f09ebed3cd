# -*- coding: utf-8 -*-
# Copyright: aiinfra.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jenkins job configurations compared by meaning, not by text.

Jenkins stores a posted config.xml after re-serialising it: it adds the XML declaration (version 1.1), a
``plugin="name@version"`` attribute on elements that plugins own, and its own indentation. Comparing text (as
community.general.jenkins_job does) therefore reports a change on every run; comparing the normalised trees does not,
while any real change of an element, attribute or value still shows."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import xml.etree.ElementTree as ET


def _strip(element):
    element.attrib.pop("plugin", None)
    element.text = (element.text or "").strip() or None
    element.tail = None
    for child in element:
        _strip(child)
    return element


def normalize_job_xml(text):
    """The canonical form of a job's config.xml: no declaration, no plugin attributes, no layout whitespace."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text or "")
    return ET.tostring(_strip(ET.fromstring(body.strip())), encoding="unicode")


def job_config_differs(current, wanted):
    """True when the job is missing (current empty) or its configuration differs in meaning from `wanted`."""
    if not current or not current.strip():
        return True
    return normalize_job_xml(current) != normalize_job_xml(wanted)
