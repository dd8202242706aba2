#!/bin/sh
# Records every participant of a room into a folder, one file each, with
# rtcgaterecorder (core's recorder: no transcoding, playable after a crash).
# Stop with Ctrl-C.
#
#   ROOM=demo URI=ws://127.0.0.1:8443/ws examples/gst/record-folder.sh recordings
set -eu
DIR=${1:-recordings}
ROOM=${ROOM:-demo}
URI=${URI:-ws://127.0.0.1:8443/ws}
exec gst-launch-1.0 -e rtcgaterecorder room="$ROOM" uri="$URI" location="$DIR"
