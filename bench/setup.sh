#!/usr/bin/env bash
# Installs what only the benchmarks need (they are not CI, so scripts/setup-machine.sh does not):
# sysbench (MySQL point selects) and pgbouncer (the PostgreSQL reference proxy). pgbench comes
# with the PostgreSQL server packages the tests already use. Idempotent; run as root.
set -euo pipefail

PACKAGES=(sysbench pgbouncer)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "bench setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The benchmark runs its own pgbouncer with its own config; the packaged service is not used.
echo "bench setup: sysbench $(sysbench --version | awk '{print $2}'), $(pgbouncer --version | head -n1)"
