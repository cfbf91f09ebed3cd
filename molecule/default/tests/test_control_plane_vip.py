"""Verify control_plane_vip on the test bed: all three nodes are control-plane nodes, keepalived and haproxy run on
each, and from every node the VIP accepts connections on the API port (haproxy on the node holding it; no API
server runs on the test bed, so nothing answers behind it)."""

VIP = "198.18.1.10"


def test_keepalived_and_haproxy_running(host):
    for service in ("keepalived", "haproxy"):
        assert host.service(service).is_running and host.service(service).is_enabled


def test_haproxy_listens_for_the_api(host):
    assert host.socket("tcp://0.0.0.0:8443").is_listening


def test_vip_accepts_connections_from_every_node(host):
    assert host.run("timeout 5 bash -c '</dev/tcp/%s/8443'" % VIP).rc == 0


def test_haproxy_reports_no_api_server_locally(host):
    code = host.check_output("curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8404/healthz")
    assert code == "503"
