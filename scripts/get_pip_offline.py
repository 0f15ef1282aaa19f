"""Stand-in for the get-pip bootstrap script that ansible-test downloads from a host this
machine cannot reach. ansible-test runs it as __main__ inside a fresh venv with pip's install
arguments; this bootstraps pip from the standard library (ensurepip), then installs exactly the
requested packages from PyPI. Installed by scripts/setup.sh into ~/.ansible/test/cache/.
"""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
# ansible-test runs this with a filtered environment; keep the machine's CA bundle in use.
for bundle in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
    if bundle and os.path.exists(bundle):
        arguments = ["--cert", bundle] + arguments
        break
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade"] + arguments))
