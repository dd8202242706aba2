#!/bin/sh
# Sends a test pattern (VP8 video + Opus audio) into an rtcgate room.
#
#   ROOM=demo URI=ws://127.0.0.1:8443/ws examples/gst/send-test-pattern.sh
#   SERVER_PORT=8443 examples/gst/send-test-pattern.sh   # also runs the signalling server
#
# Needs libgstrtcgate.so on GST_PLUGIN_PATH (cargo build -p gst-plugin-rtcgate).
set -eu
ROOM=${ROOM:-demo}
URI=${URI:-ws://127.0.0.1:8443/ws}
if [ -n "${SERVER_PORT:-}" ]; then
  server="run-signalling-server=true signalling-server-port=$SERVER_PORT"
else
  server="uri=$URI"
fi
# shellcheck disable=SC2086 # $server is two properties
exec gst-launch-1.0 -e \
  videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 \
    ! vp8enc deadline=1 keyframe-max-dist=300 ! s.video_0 \
  audiotestsrc is-live=true wave=ticks ! audioconvert ! audioresample ! opusenc ! s.audio_0 \
  rtcgatesink name=s room="$ROOM" display-name=gst-test-pattern $server
