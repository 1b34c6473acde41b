#!/usr/bin/env bash
# Installs the Debian packages linesight's tests and demo use: ffmpeg (camera
# decoding), mosquitto (external MQTT broker in tests), GStreamer's RTSP server
# (a real RTSP camera in tests), python3-skimage (real texture photos for the
# development dataset), openarena-081-textures (photographic stone, concrete,
# metal and wood textures for the hard development set; a 94 MB download) with
# unzip to read them, systemd (systemd-analyze checks the service unit),
# Chromium (the web UI's browser tests drive it with playwright-core) and
# RabbitMQ (a two-node MQTT broker cluster in tests). Safe to run again; skips
# what is already there. The mosquitto service the package starts on port 1883
# is stopped and disabled (scripts/stop-packaged-mosquitto.sh): it would block
# the embedded broker.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
pkgs=(ffmpeg mosquitto mosquitto-clients libgstrtspserver-1.0-0 gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gir1.2-gstreamer-1.0
  python3-gi python3-skimage openarena-081-textures unzip systemd chromium fonts-dejavu-core rabbitmq-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  if [ "$(id -u)" -eq 0 ]; then "$here/stop-packaged-mosquitto.sh"; fi
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (run this script as root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
"$here/stop-packaged-mosquitto.sh"
