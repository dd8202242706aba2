#!/usr/bin/env bash
# Prepares the two interpreters the anchor programs run with:
#   - Debian's /usr/bin/python3 with GObject introspection for GStreamer
#     (webrtcbin_dc.py), installed with apt if missing;
#   - a virtualenv with aiortc (aiortc_dc.py), created if missing.
# Idempotent. Usage: core/benches/anchors/setup.sh [VENV_DIR]
# Default VENV_DIR: <repo root>/target/anchors-venv. Prints both interpreter paths.
set -euo pipefail

AIORTC_VERSION=1.16.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${1:-$root/target/anchors-venv}"

# 1. GStreamer introspection for Debian's Python.
apt_packages=(python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
              gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-bad gstreamer1.0-nice)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >&2
fi
/usr/bin/python3 - <<'PY' >&2
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import Gst, GstWebRTC, GstSdp  # noqa: F401
Gst.init(None)
assert Gst.ElementFactory.find("webrtcbin"), "webrtcbin plugin missing (gstreamer1.0-plugins-bad, gstreamer1.0-nice)"
print("webrtcbin:", Gst.version_string())
PY

# 2. aiortc in a virtualenv.
if ! "$venv/bin/python" -c "import aiortc, sys; sys.exit(aiortc.__version__ != '$AIORTC_VERSION')" 2>/dev/null; then
    echo "creating $venv with aiortc==$AIORTC_VERSION" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "aiortc==$AIORTC_VERSION" >&2
fi
"$venv/bin/python" -c "import aiortc; print('aiortc', aiortc.__version__)" >&2

echo "webrtcbin_python=/usr/bin/python3"
echo "aiortc_python=$venv/bin/python"
