#!/bin/sh
# Checks systemd/ml-connector.service with `systemd-analyze verify` and its exposure score with
# `systemd-analyze security --offline=true` (at most 1.2; systemd >= 252). verify needs the
# ExecStart binary to exist, so both check a temporary copy whose ExecStart is /bin/true.
# Usage: systemd/verify.sh   (exit status non-zero on any finding)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
unit="$here/ml-connector.service"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed 's|^ExecStart=/usr/bin/ml-connector |ExecStart=/bin/true |' "$unit" > "$tmp/ml-connector.service"
if ! grep -q '^ExecStart=/bin/true ' "$tmp/ml-connector.service"; then
    echo "verify.sh: ExecStart line not found in $unit" >&2
    exit 1
fi

# verify prints findings on stderr and does not always fail on them: treat any output as failure.
out=$(cd "$tmp" && systemd-analyze verify --man=no "$tmp/ml-connector.service" 2>&1) || {
    printf '%s\n' "$out" >&2
    exit 1
}
if [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    exit 1
fi
echo "systemd-analyze verify: ml-connector.service OK"

# Exposure score: 0.0 (best) .. 10.0; --threshold takes tenths, 12 = 1.2.
max_exposure=12
if ! systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    echo "verify.sh: systemd-analyze security --offline needs systemd >= 252" >&2
    exit 1
fi
score=$(cd "$tmp" && systemd-analyze security --offline=true --no-pager "$tmp/ml-connector.service" 2>/dev/null | tail -n 1)
echo "$score"
if ! (cd "$tmp" && systemd-analyze security --offline=true --threshold=$max_exposure --no-pager \
        "$tmp/ml-connector.service" >/dev/null 2>&1); then
    echo "verify.sh: exposure above 1.2 ($score)" >&2
    exit 1
fi
