#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine of this project's kind, then run ruff, mypy and pytest.
# Used by the README's test command and by .ci/run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Debian packages, each installed only when missing (one `apt-get update` first, and only if one is):
# - tinyproxy, a real HTTP proxy for the proxy tests (Test Connection through the runtime proxy, 407, non-proxy hosts);
# - a Java runtime (Debian's default, 17 on bookworm) for the PySpark data source tests (Spark 4 needs Java 17+).
missing=()
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update -qq
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The OAuth interop server (npm oidc-provider, pinned in tests/interop/package-lock.json).
if [ ! -d tests/interop/node_modules ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

python3 -m ruff check .
python3 -m mypy
python3 -m pytest "$@"
