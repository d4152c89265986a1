# Sourced by .ci/run before the tests: makes `systemctl --user` / `systemd-run --user` available
# for tests/systemd_sandbox.rs, which runs the real binary with the unit's properties.
#
# - A reachable user manager (a desktop, a CI runner with systemd) is used as it is.
# - Otherwise, as root with unshare(1) (containers without systemd as PID 1), a private one is
#   started: `systemd --user` refuses to run unless /run/systemd/system exists, so it runs in its
#   own mount namespace where /run/systemd is an empty stand-in with system/ (the host's /run is
#   untouched). Its XDG_RUNTIME_DIR is under target/ (not /tmp, hidden by PrivateTmp=, nor /run,
#   which services with ProtectControlGroups=/ProtectProc= do not see in this setup), and its
#   notify socket is made writable for every user like the system manager's /run/systemd/notify,
#   so a User= service can send READY=1. It is stopped when the sourcing shell exits.
# - Each [Service] property of the unit (but Type=notify and the watchdog, which /bin/true cannot
#   satisfy) is probed with /bin/true; those the container forbids
#   (exit 226/NAMESPACE, e.g. ProtectHome= or ProtectKernelTunables= where /home or /proc/sys
#   cannot be remounted) are exported in MLC_SANDBOX_SKIP_PROPERTIES and printed.
# Leaves the tests to skip with a message when none of this is possible.

mlc_unit="$(pwd)/systemd/ml-connector.service"
if ! systemctl --user show-environment >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && [ -x /lib/systemd/systemd ]; then
    mlc_xdg="$(pwd)/target/ci-user-manager"
    mkdir -p "$mlc_xdg/stand-in/system" && chmod 0711 "$mlc_xdg"
    export XDG_RUNTIME_DIR="$mlc_xdg"
    # shellcheck disable=SC2016
    unshare --mount --propagation private sh -c '
      mkdir -p /run/systemd && mount --bind "$XDG_RUNTIME_DIR/stand-in" /run/systemd &&
      exec /lib/systemd/systemd --user' >"$mlc_xdg/manager.log" 2>&1 &
    mlc_manager_pid=$!
    trap 'kill "$mlc_manager_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 50); do
      [ -S "$mlc_xdg/systemd/notify" ] && systemctl --user show-environment >/dev/null 2>&1 && break
      sleep 0.1
    done
    chmod 0777 "$mlc_xdg/systemd/notify" 2>/dev/null || true
  fi
fi
if systemctl --user show-environment >/dev/null 2>&1; then
  MLC_SANDBOX_SKIP_PROPERTIES=""
  while IFS= read -r mlc_prop; do
    if ! systemd-run --user --wait --quiet --collect -p "$mlc_prop" /bin/true >/dev/null 2>&1; then
      MLC_SANDBOX_SKIP_PROPERTIES="$MLC_SANDBOX_SKIP_PROPERTIES ${mlc_prop%%=*}"
    fi
  done <<EOF_PROPS
$(sed -n '/^\[Service\]/,/^\[/p' "$mlc_unit" | grep -E '^[A-Za-z]+=' |
  grep -vE '^(Type|NotifyAccess|WatchdogSec|ExecStart|ExecReload|ExecCondition|User|Group|StateDirectory|StateDirectoryMode|LoadCredential|Restart|RestartSec|RestartPreventExitStatus)=')
EOF_PROPS
  export MLC_SANDBOX_SKIP_PROPERTIES
  echo "systemd user manager ready; properties this machine cannot apply:${MLC_SANDBOX_SKIP_PROPERTIES:- none}"
else
  echo "no systemd user manager: tests/systemd_sandbox.rs will skip"
fi
