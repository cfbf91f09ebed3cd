"""Make devpi-server's mirror index follow the configured upstream (run as the mirrors role's Job; stdlib only).

Environment: DEVPI_URL (the server), DEVPI_ROOT_PASSWORD, DEVPI_INDEX (user/index, e.g. root/pypi),
DEVPI_UPSTREAM_URL (a PEP 503 simple index: pypi.org or an internal one for air-gapped sites),
DEVPI_WAIT_SECONDS (how long to wait for the server). Prints one line saying what it did; exit 1 with the reason
on failure. Never prints the password or the login token."""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request


def request(method, url, body=None, auth=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Accept": "application/json", "Content-Type": "application/json"})
    if auth:
        req.add_header("X-Devpi-Auth", base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, {"message": text[:300]}


def main():
    base = os.environ["DEVPI_URL"].rstrip("/")
    index = os.environ["DEVPI_INDEX"].strip("/")
    upstream = os.environ["DEVPI_UPSTREAM_URL"]
    password = os.environ["DEVPI_ROOT_PASSWORD"]
    deadline = time.monotonic() + int(os.environ.get("DEVPI_WAIT_SECONDS", "300"))
    while True:
        try:
            status = request("GET", base + "/+api")[0]
            if status == 200:
                break
        except OSError as exc:
            status = exc
        if time.monotonic() > deadline:
            sys.exit("devpi-configure-index: devpi-server at %s did not answer /+api (%s); check its pod" % (base, status))
        time.sleep(2)
    status, body = request("POST", base + "/+login", {"user": "root", "password": password})
    if status != 200:
        sys.exit("devpi-configure-index: login as root at %s failed (HTTP %s: %s); the root password in the Secret "
                 "must match the one devpi-init stored" % (base, status, body.get("message", "")))
    auth = "root:" + body["result"]["password"]
    status, body = request("GET", "%s/%s" % (base, index), auth=auth)
    wanted = {"type": "mirror", "mirror_url": upstream}
    if status == 404:
        status, body = request("PUT", "%s/%s" % (base, index), wanted, auth=auth)
        action = "created"
    elif status == 200:
        current = body["result"]
        if current.get("type") == "mirror" and current.get("mirror_url") == upstream:
            print("devpi-configure-index: %s already mirrors %s (unchanged)" % (index, upstream))
            return
        if current.get("type") != "mirror":
            sys.exit("devpi-configure-index: %s exists and is a %s index, not a mirror; choose another "
                     "mirrors_pypi_index" % (index, current.get("type")))
        status, body = request("PATCH", "%s/%s" % (base, index), ["mirror_url=%s" % upstream], auth=auth)
        action = "changed"
    else:
        sys.exit("devpi-configure-index: reading %s failed (HTTP %s: %s)" % (index, status, body.get("message", "")))
    if status not in (200, 201):
        sys.exit("devpi-configure-index: could not set %s to mirror %s (HTTP %s: %s)"
                 % (index, upstream, status, body.get("message", "")))
    print("devpi-configure-index: %s %s, mirroring %s" % (index, action, upstream))


if __name__ == "__main__":
    main()
