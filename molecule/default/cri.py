"""A minimal CRI client (test fixture, copied to the nodes by prepare.yml): the kubelet's own calls to a CRI socket.

Debian 12 has no crictl (cri-tools), so this speaks the CRI gRPC API (runtime.v1, as the kubelet of Kubernetes 1.31
does) with python3-grpcio and hand-encoded protobuf messages: only a few string fields are needed.

    python3 cri.py --endpoint unix:///run/containerd/containerd.sock version
    python3 cri.py --endpoint ... pull IMAGE        (ImageService/PullImage, as the kubelet pulls a pod's image)
    python3 cri.py --endpoint ... remove IMAGE      (ImageService/RemoveImage)
Prints one JSON object; exits 1 with the gRPC error on failure.
"""

import argparse
import json
import sys

import grpc


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):
    """A length-delimited field (strings and embedded messages)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(data, i):
    """(value, next index) of the base-128 varint at data[i]."""
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(data):
    """{field number: [bytes or int]} of a protobuf message."""
    out, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            length, i = _read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        out.setdefault(number, []).append(value)
    return out


def _call(channel, method, request):
    return channel.unary_unary(method)(request, timeout=120)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("action", choices=["version", "pull", "remove"])
    parser.add_argument("image", nargs="?")
    args = parser.parse_args()
    channel = grpc.insecure_channel(args.endpoint)
    try:
        if args.action == "version":
            # VersionRequest{version=1}; VersionResponse{version=1, runtime_name=2, runtime_version=3, runtime_api_version=4}
            f = _fields(_call(channel, "/runtime.v1.RuntimeService/Version", _field(1, b"v1")))
            result = {k: f[n][0].decode() for k, n in
                      (("version", 1), ("runtime_name", 2), ("runtime_version", 3), ("runtime_api_version", 4)) if n in f}
        else:
            spec = _field(1, _field(1, args.image.encode()))  # {image: ImageSpec{image}}
            if args.action == "pull":
                f = _fields(_call(channel, "/runtime.v1.ImageService/PullImage", spec))
                result = {"image_ref": f[1][0].decode()}
            else:
                _call(channel, "/runtime.v1.ImageService/RemoveImage", spec)
                result = {"removed": args.image}
    except grpc.RpcError as exc:
        print(json.dumps({"error": exc.details(), "code": str(exc.code())}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
