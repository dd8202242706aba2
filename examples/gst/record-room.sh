#!/bin/sh
# Records the first video (VP8) and audio (Opus) tracks of a room into one
# file: .webm (webmmux) or .mkv (matroskamux), by the file's extension.
# Stop with Ctrl-C: -e sends EOS so the file is finished.
#
#   ROOM=demo URI=ws://127.0.0.1:8443/ws examples/gst/record-room.sh call.webm
set -eu
OUT=${1:-call.webm}
ROOM=${ROOM:-demo}
URI=${URI:-ws://127.0.0.1:8443/ws}
case "$OUT" in
  *.mkv) mux=matroskamux ;;
  *) mux=webmmux ;;
esac
exec gst-launch-1.0 -e \
  rtcgatesrc name=src room="$ROOM" uri="$URI" display-name=gst-recorder \
  src. ! video/x-vp8 ! queue ! mux.video_0 \
  src. ! audio/x-opus ! queue ! mux.audio_0 \
  $mux name=mux ! filesink location="$OUT"
