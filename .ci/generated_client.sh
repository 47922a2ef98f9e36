#!/usr/bin/env bash
# A typed Python client generated from the real server's /openapi.json by a common
# generator (openapi-python-client, pinned) completes the README's walk-through against
# that server (tools/client_walkthrough.py), on loopback. Fails when the generator reports
# any warning or error about the document, and on any step the generated client cannot do.
# Nothing generated is kept.
# Usage: .ci/generated_client.sh [path/to/roomwarden]   (default: target/debug/roomwarden)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
BIN="${1:-target/debug/roomwarden}"
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
VENV="${CLIENT_VENV:-$root/target/client-venv}"

if ! "$VENV/bin/openapi-python-client" --version 2>/dev/null | grep -q "version: $OPENAPI_PYTHON_CLIENT_VERSION\$"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
fi

api_key=gc-api-key-8d2f4a6c1e3b5d7f9a0c2e4b6d
client_key=gc-client-key-3b5d7f9a1c2e4f6a8b0d1e3c
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
ROOMWARDEN_BIND="127.0.0.1:$port" ROOMWARDEN_DATABASE_URL="sqlite://$work/gc.db" \
  ROOMWARDEN_API_KEY=$api_key ROOMWARDEN_CLIENT_KEY=$client_key ROOMWARDEN_WEBHOOK_SECRET=gc \
  RUST_LOG=warn "$BIN" >"$work/server.out" 2>"$work/server.log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The document as the running server serves it.
if ! python3 - "$base" "$work/openapi.json" <<'PY'
import sys, time, urllib.request
base, out = sys.argv[1], sys.argv[2]
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/health", timeout=1); break
    except OSError:
        time.sleep(0.1)
try:
    with urllib.request.urlopen(base + "/openapi.json", timeout=10) as res, open(out, "wb") as f:
        f.write(res.read())
except OSError as e:
    sys.exit(f"GET {base}/openapi.json: {e}")
PY
then
  echo "the server did not serve /openapi.json:"; cat "$work/server.log"; exit 1
fi

echo "generating the client with openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION"
mkdir "$work/gen"
set +e
(cd "$work" && "$VENV/bin/openapi-python-client" generate --path "$work/openapi.json" --meta none \
  --config "$root/.ci/generated_client.yaml" --output-path "$work/gen/roomwarden_client" --fail-on-warning) \
  >"$work/generate.log" 2>&1
status=$?
set -e
cat "$work/generate.log"
# Any warning or error is a part of the document the generator could not turn into code.
if [ "$status" -ne 0 ] || grep -v '^Generating ' "$work/generate.log" | grep -Eiq 'warning|error|unable|unsupported|could not|cannot|skipping'; then
  echo "openapi-python-client reported problems with the document (above); failing"
  exit 1
fi
if [ ! -f "$work/gen/roomwarden_client/__init__.py" ]; then
  echo "openapi-python-client generated no package"; exit 1
fi

echo "README walk-through through the generated client"
ROOMWARDEN_API_KEY=$api_key ROOMWARDEN_CLIENT_KEY=$client_key PYTHONPATH="$work/gen" \
  "$VENV/bin/python" tools/client_walkthrough.py "$base"
if ! kill -0 "$server" 2>/dev/null; then
  echo "the server died during the walk-through:"; cat "$work/server.log"; exit 1
fi
