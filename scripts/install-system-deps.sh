#!/usr/bin/env bash
# Debian packages the tests use, installed only when missing: chromium (browser tests, driven by
# Playwright; never `playwright install`), openssh (the ssh tunnel test's local sshd), wrk (the
# benchmark's load generator), PostgreSQL (the shared history's tests start their own server from
# it in a temporary folder), nginx (the reverse-proxy tests start their own, at a path prefix) and a
# Korean font (so screenshots show Hangul).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v wrk >/dev/null || need+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v runuser >/dev/null || need+=(util-linux)
dpkg -s fonts-nanum >/dev/null 2>&1 || need+=(fonts-nanum)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
