"""Stand-in for ansible-test's downloaded get-pip script (its host is unreachable here).

ansible-test runs `python get_pip.py <pip args>` to put pip into the virtualenvs it makes. This does the
same from the Python's own bundled pip: ensurepip in a child process (so the machine's pip configuration,
e.g. its CA bundle, stays in force), then `pip install <args>` without the flags ensurepip cannot honour.
Installed by .ci/run as ~/.ansible/test/cache/get_pip_<version>.py.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
