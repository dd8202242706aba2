#!/usr/bin/env bash
# Regenerates the small encoded test clips in this directory with gst-launch-1.0.
#
#   examples/media/make-clips.sh [OUTDIR]      (default: the directory of this script)
#
# Every clip is 5 s long and carries a moving picture (videotestsrc pattern=ball with a
# running-time overlay) or a beeping tone, so a looped clip visibly/audibly "moves".
# Video: 320x240, 30 fps, 150 frames, a keyframe at least every 30 frames, ~150 kbit/s.
# Audio: Opus, 48 kHz mono, 20 ms frames, 32 kbit/s.
#
# Needs: gstreamer1.0-tools, -plugins-base (videotestsrc, audiotestsrc, ogg, opus),
# -plugins-good (vpx), -plugins-bad (openh264, aom, h264parse, av1parse), -libav (avmux_ivf),
# and ffmpeg (remuxing only, never re-encoding: IVF time base 1/30, AV1 OBU -> IVF).
# A clip whose encoder is missing is skipped with a message; the script fails only if
# VP8 or Opus cannot be made.
set -euo pipefail

out="${1:-$(cd "$(dirname "$0")" && pwd)}"
mkdir -p "$out"

FRAMES=150                 # 5 s at 30 fps
KEYINT=30                  # frames between keyframes
VBITRATE_KBPS=150
RAW="video/x-raw,format=I420,width=320,height=240,framerate=30/1,pixel-aspect-ratio=1/1"
# A bouncing ball over black with the running time burnt in (top left).
VSRC="videotestsrc num-buffers=$FRAMES pattern=ball ! $RAW ! timeoverlay halignment=left valignment=top font-desc=\"Sans 14\" ! videoconvert ! $RAW"

have() { gst-inspect-1.0 "$1" >/dev/null 2>&1; }

# avmux_ivf writes a 1/90000 time base (pts 0, 3000, 6000, ...) and puts the duration in
# that unit (450000) into the header's frame-count field. Readers that derive the frame
# interval from the header (webrtc-rs' play-from-disk example: 1000*num/den ms = 0 ms)
# then send the whole clip in a burst. Rewrite the timestamps to a 1/30 time base
# (pts = frame index, header frame count = 150) without touching the frames.
normalise_ivf() { # in.ivf out.ivf
  if command -v ffmpeg >/dev/null; then
    ffmpeg -v error -y -i "$1" -c copy -bsf:v "setts=ts=N:time_base=1/30" -f ivf "$2"
    rm -f "$1"
  else
    echo "!! ffmpeg not found: $2 keeps avmux_ivf's 1/90000 time base" >&2
    mv "$1" "$2"
  fi
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

run() { # name, pipeline (one string, gst-launch syntax)
  local name="$1"; shift
  echo ">> $name" >&2
  eval "gst-launch-1.0 -q $1"
}

# VP8 in IVF.
run testsrc-vp8.ivf "$VSRC ! vp8enc deadline=0 cpu-used=4 threads=1 end-usage=cbr target-bitrate=$((VBITRATE_KBPS * 1000)) keyframe-max-dist=$KEYINT ! avmux_ivf ! filesink location=\"$tmp/vp8.ivf\""
normalise_ivf "$tmp/vp8.ivf" "$out/testsrc-vp8.ivf"

# VP8 at another size (640x360, 2 s): a sender switches to it to test resolution changes.
WIDE="video/x-raw,format=I420,width=640,height=360,framerate=30/1,pixel-aspect-ratio=1/1"
run testsrc-vp8-640x360.ivf "videotestsrc num-buffers=60 pattern=smpte ! $WIDE ! timeoverlay halignment=left valignment=top font-desc=\"Sans 14\" ! videoconvert ! $WIDE ! vp8enc deadline=0 cpu-used=4 threads=1 end-usage=cbr target-bitrate=$((VBITRATE_KBPS * 1000)) keyframe-max-dist=$KEYINT ! avmux_ivf ! filesink location=\"$tmp/vp8w.ivf\""
normalise_ivf "$tmp/vp8w.ivf" "$out/testsrc-vp8-640x360.ivf"

# VP9 in IVF.
if have vp9enc; then
  run testsrc-vp9.ivf "$VSRC ! vp9enc deadline=0 cpu-used=4 threads=1 end-usage=cbr target-bitrate=$((VBITRATE_KBPS * 1000)) keyframe-max-dist=$KEYINT ! avmux_ivf ! filesink location=\"$tmp/vp9.ivf\""
  normalise_ivf "$tmp/vp9.ivf" "$out/testsrc-vp9.ivf"
else
  echo "!! vp9enc not available: skipping testsrc-vp9.ivf" >&2
fi

# H.264 Annex-B byte-stream, constrained baseline (x264enc if present, else openh264enc).
H264CAPS="video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline"
if have x264enc; then
  run testsrc-h264.h264 "$VSRC ! x264enc threads=1 bitrate=$VBITRATE_KBPS key-int-max=$KEYINT bframes=0 tune=zerolatency speed-preset=medium ! $H264CAPS ! h264parse config-interval=-1 ! $H264CAPS ! filesink location=\"$out/testsrc-h264.h264\""
elif have openh264enc; then
  run testsrc-h264.h264 "$VSRC ! openh264enc multi-thread=1 bitrate=$((VBITRATE_KBPS * 1000)) gop-size=$KEYINT rate-control=bitrate scene-change-detection=false ! $H264CAPS ! h264parse config-interval=-1 ! $H264CAPS ! filesink location=\"$out/testsrc-h264.h264\""
else
  echo "!! neither x264enc nor openh264enc available: skipping testsrc-h264.h264" >&2
fi

# AV1 in IVF (libaom's av1enc from gstreamer1.0-plugins-bad). Two GStreamer 1.22 snags:
# avmux_ivf refuses AV1 caps ("no caps set on stream 0"), so the OBU stream is written
# by gst-launch-1.0 and remuxed (no re-encoding) to IVF by ffmpeg; and av1enc
# end-usage=cbr aborts inside libaom (rc_pick_q_and_bounds_no_stats_cbr assertion),
# so the default VBR rate control is used.
if have av1enc && have av1parse && command -v ffmpeg >/dev/null; then
  obu="$tmp/av1.obu"
  run testsrc-av1.ivf "$VSRC ! av1enc usage-profile=realtime cpu-used=8 threads=1 target-bitrate=$VBITRATE_KBPS keyframe-max-dist=$KEYINT ! av1parse ! video/x-av1,stream-format=obu-stream,alignment=tu ! filesink location=\"$obu\""
  ffmpeg -v error -y -framerate 30 -f obu -i "$obu" -c copy -f ivf "$out/testsrc-av1.ivf"
else
  echo "!! av1enc/av1parse or ffmpeg not available: skipping testsrc-av1.ivf" >&2
fi

# Opus in Ogg: 880 Hz beeps (audiotestsrc wave=ticks: a 100 ms beep every 250 ms,
# louder on every whole second), 48 kHz mono, 20 ms frames.
run testsrc-opus.ogg "audiotestsrc num-buffers=250 samplesperbuffer=960 wave=ticks freq=880 volume=0.4 tick-interval=250000000 sine-periods-per-tick=88 apply-tick-ramp=true marker-tick-period=4 marker-tick-volume=1.0 ! audio/x-raw,format=S16LE,rate=48000,channels=1 ! opusenc bitrate=32000 frame-size=20 audio-type=generic ! oggmux ! filesink location=\"$out/testsrc-opus.ogg\""

ls -l "$out"/testsrc-* >&2
