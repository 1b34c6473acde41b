#!/usr/bin/env bash
# Stops and disables the mosquitto service Debian's package starts on port
# 1883: on a device it would take the port linesight's embedded broker
# listens on. The mosquitto binary stays installed (tests start their own
# brokers on other ports with their own configs; those are never touched).
#
# With systemd: `systemctl disable --now mosquitto`. Without (containers,
# sysvinit): the service is stopped only through its pid file, and only when
# that process really is the packaged one (started with the package's config).
# A device that should use mosquitto as its broker re-enables it:
#   systemctl enable --now mosquitto   (and sets mqtt.url in the linesight config)
#
# The paths can be overridden (for the tests of this script).
set -euo pipefail
systemd_dir=${LINESIGHT_SYSTEMD_DIR:-/run/systemd/system}
package_conf=${LINESIGHT_MOSQUITTO_CONF:-/etc/mosquitto/mosquitto.conf}
package_pidfile=${LINESIGHT_MOSQUITTO_PIDFILE:-/run/mosquitto/mosquitto.pid}

if [ -d "$systemd_dir" ] && command -v systemctl >/dev/null; then
  if systemctl list-unit-files mosquitto.service >/dev/null 2>&1; then
    systemctl disable --now mosquitto.service
    echo "packaged mosquitto: stopped and disabled (port 1883 is left to linesight's embedded broker)"
  fi
  exit 0
fi

# No systemd: keep the init script from starting it at boot.
if [ "$package_conf" = /etc/mosquitto/mosquitto.conf ] && command -v update-rc.d >/dev/null && [ -e /etc/init.d/mosquitto ]; then
  update-rc.d mosquitto disable >/dev/null 2>&1 || true
fi
if [ ! -r "$package_pidfile" ]; then
  echo "packaged mosquitto: not running"
  exit 0
fi
pid=$(tr -dc '0-9' <"$package_pidfile")
if [ -z "$pid" ] || [ ! -r "/proc/$pid/cmdline" ]; then
  echo "packaged mosquitto: not running (stale pid file $package_pidfile)"
  exit 0
fi
# The command line, arguments separated by spaces.
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
exe=${cmdline%% *}
if [ "$(basename "$exe")" != mosquitto ] || [[ " $cmdline " != *" -c $package_conf "* ]]; then
  echo "packaged mosquitto: not running (pid $pid in $package_pidfile is another process: $cmdline)"
  exit 0
fi
kill -TERM "$pid"
for _ in $(seq 50); do
  [ -e "/proc/$pid" ] || break
  sleep 0.1
done
echo "packaged mosquitto: stopped (pid $pid)"
