#!/bin/sh
# Plays the first VP8 video track that appears in a room.
#
#   ROOM=demo URI=ws://127.0.0.1:8443/ws examples/gst/play-participant.sh
#   VIDEO_SINK=fakesink examples/gst/play-participant.sh   # no display
set -eu
ROOM=${ROOM:-demo}
URI=${URI:-ws://127.0.0.1:8443/ws}
VIDEO_SINK=${VIDEO_SINK:-autovideosink}
exec gst-launch-1.0 -e \
  rtcgatesrc name=src room="$ROOM" uri="$URI" display-name=gst-player \
  src. ! video/x-vp8 ! queue ! decodebin ! videoconvert ! "$VIDEO_SINK"
