#!/usr/bin/env bash
# Runs the whole test suite, installing what it needs first (git-lfs from Debian).
# Tests that need a tool fail when it is missing; they never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v git-lfs >/dev/null 2>&1 || need+=(git-lfs)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "[test] installing ${need[*]} from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
git lfs version

export HFGIT_REQUIRE_PEERS=1
cargo test --locked "$@"
