#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine of this project's kind, then run ruff, mypy and pytest.
# Used by the README's test command and by .ci/run. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Debian packages the tests start themselves, each installed only when missing (one `apt-get update` first):
# - tinyproxy, a real HTTP proxy for the proxy tests (Test Connection through the runtime proxy, 407, non-proxy hosts);
# - redis-server for the Redis token store and the shared-refresh proofs (started on a free loopback port without
#   persistence by tests/support/redis_server.py);
# - Chromium for the browser tests (tests/schemas, tests/host/web): Playwright drives /usr/bin/chromium, because
#   downloading browser builds is not possible here;
# - a Java runtime (Debian's default, 17 on bookworm) for the PySpark data source tests (Spark 4 needs Java 17+).
missing=()
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update -qq
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ajv, react-jsonschema-form and esbuild for the form tests (pinned in tests/forms/package-lock.json).
if [ ! -d tests/forms/node_modules ]; then
  npm ci --prefix tests/forms --no-audit --no-fund --loglevel=error
fi

# The OAuth interop server (npm oidc-provider, pinned in tests/interop/package-lock.json).
if [ ! -d tests/interop/node_modules ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

python3 -m ruff check .
python3 -m ruff format --check .
lint-imports
python3 -m mypy
python3 -m pytest "$@"
