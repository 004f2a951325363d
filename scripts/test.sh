#!/usr/bin/env bash
# Runs the whole test suite, installing and starting what it needs first:
#   git + git-lfs (Debian), the loopback forge (nginx + git http-backend + giftless, see
#   scripts/peers/) and rudolfs (a second, independent LFS server, from crates.io), and
#   xfsprogs (tests/reflink.rs makes an XFS with reflink on a loop device; needs root), and
#   xet-core's own CAS server (`local_cas_server` from the xet-client crate) plus Hugging
#   Face's `hf_xet` Python package for the Xet tests.
# The servers listen on free 127.0.0.1 ports and are stopped by pid when the tests end.
# Tests that need a tool or a server fail when it is missing; they never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v git-lfs >/dev/null 2>&1 || need+=(git-lfs)
command -v mkfs.xfs >/dev/null 2>&1 || need+=(xfsprogs)
[ -x /usr/bin/time ] || need+=(time)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "[test] installing ${need[*]} from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
git lfs version

# Slow builds of test peers are cached outside the checkout, so a fresh clone reuses them; a
# fresh machine builds them once.
CACHE="${HFGIT_TEST_PEERS_CACHE:-$HOME/.cache/hfgit-test-peers}"
mkdir -p "$CACHE"
RUDOLFS="$CACHE/bin/rudolfs"
if [ ! -x "$RUDOLFS" ]; then
  echo "[test] building rudolfs 0.3.8 into $CACHE (once; about 3 minutes)"
  cargo install --quiet rudolfs --version 0.3.8 --root "$CACHE"
fi

# xet-core's own CAS (tests/xet.rs runs it behind the Hub test server's strict front)
XETCAS="$CACHE/xet/bin/local_cas_server"
if [ ! -x "$XETCAS" ]; then
  echo "[test] building xet-core's local_cas_server (xet-client 1.8.0) into $CACHE/xet (once; long on 2 cores)"
  cargo install --quiet xet-client --version 1.8.0 --features simulation --bin local_cas_server --root "$CACHE/xet"
fi
export HFGIT_TEST_XET_CAS="$XETCAS"

# huggingface_hub, to prove the token file is shared both ways; hf_xet, Hugging Face's own Xet
# client, to read what hfgit uploads and upload what hfgit must read; safetensors and numpy, to load
# the safetensors files hfgit writes (PyTorch is not needed: fixtures/ holds its checkpoints)
PY="$CACHE/py"
if ! "$PY/bin/python" -c 'import huggingface_hub, safetensors.numpy, numpy, hf_xet' >/dev/null 2>&1; then
  echo "[test] installing huggingface_hub, safetensors, numpy and hf_xet into $PY"
  [ -x "$PY/bin/pip" ] || python3 -m venv "$PY"
  "$PY/bin/pip" install -q huggingface_hub safetensors numpy hf_xet
fi
export HFGIT_TEST_PYTHON="$PY/bin/python"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PEERS="$(mktemp -d -t hfgit-peers.XXXXXX)"
FORGE_PORT="$(free_port)"; GIFTLESS_PORT="$(free_port)"; RUDOLFS_PORT="$(free_port)"
stop_peers() {
  bash "$ROOT/scripts/peers/stop-stack.sh" "$PEERS/forge" >/dev/null 2>&1 || true
  if [ -s "$PEERS/rudolfs.pid" ]; then kill "$(cat "$PEERS/rudolfs.pid")" 2>/dev/null || true; fi
  rm -rf "$PEERS"
}
trap stop_peers EXIT

bash "$ROOT/scripts/peers/start-stack.sh" "$PEERS/forge" "$FORGE_PORT" "$GIFTLESS_PORT" | sed 's/^/[forge] /'
mkdir -p "$PEERS/rudolfs-data"
"$RUDOLFS" --host "127.0.0.1:$RUDOLFS_PORT" local --path "$PEERS/rudolfs-data" >"$PEERS/rudolfs.log" 2>&1 &
echo $! >"$PEERS/rudolfs.pid"
for i in $(seq 1 50); do
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/vnd.git-lfs+json' -H 'Accept: application/vnd.git-lfs+json' \
    -d '{"operation":"download","objects":[]}' "http://127.0.0.1:$RUDOLFS_PORT/api/probe/probe/objects/batch" 2>/dev/null && break
  sleep 0.2
  [ "$i" = 50 ] && { echo "rudolfs did not start:"; cat "$PEERS/rudolfs.log"; exit 1; }
done
echo "[rudolfs] http://127.0.0.1:$RUDOLFS_PORT/api/<org>/<project> (pid $(cat "$PEERS/rudolfs.pid"))"

export HFGIT_TEST_FORGE="http://127.0.0.1:$FORGE_PORT"
export HFGIT_TEST_RUDOLFS="http://127.0.0.1:$RUDOLFS_PORT"
# The code stays formatted and lint-free (the layering itself is tests/layers.rs).
cargo fmt --check
cargo clippy --locked --all-targets --quiet -- -D warnings
cargo test --locked "$@"
