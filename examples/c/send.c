/* send: joins a room and plays encoded clips into it in real time, looping
 * (e.g. examples/media/testsrc-vp8.ivf and testsrc-opus.ogg), for SECONDS.
 *
 *   send URL ROOM NAME SECONDS CLIP [CLIP...]
 *
 * Each clip becomes one local track with the clip's codec; its frames are
 * pushed with rtcgate_local_track_push_sample at their presentation times.
 * Build: cc send.c $(pkg-config --cflags --libs rtcgate) -o send */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rtcgate.h>

#define MAX_CLIPS 4

typedef struct {
    rtcgate_clip clip;
    rtcgate_local_track track;
    int frames;
    int next;      /* next frame index */
    int lap;
    int64_t duration_us;
} source;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_event(rtcgate_call call, const rtcgate_call_event *e, void *user) {
    (void)call;
    (void)user;
    if (e->type == RTCGATE_CALL_EVENT_MEMBER_JOINED) printf("member joined: %s (%s)\n", e->member_name, e->member_id);
    if (e->type == RTCGATE_CALL_EVENT_MEMBER_LEFT) printf("member left: %s\n", e->member_name);
    if (e->type == RTCGATE_CALL_EVENT_CONNECTION_STATE && e->state == RTCGATE_STATE_CONNECTED)
        printf("connected to %s\n", e->member_id);
    fflush(stdout);
}

static void on_keyframe_request(rtcgate_local_track track, void *user) {
    (void)user;
    /* A real encoder would produce a keyframe now; the clip has one every second. */
    printf("keyframe requested on track %d\n", track);
    fflush(stdout);
}

static int fail(const char *what, int code) {
    fprintf(stderr, "send: %s: %s (%s)\n", what, rtcgate_last_error(), rtcgate_error_name(code));
    rtcgate_shutdown();
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s URL ROOM NAME SECONDS CLIP [CLIP...]\n", argv[0]);
        return 2;
    }
    int seconds = atoi(argv[4]);
    int rc = rtcgate_init(NULL);
    if (rc < 0) return fail("init", rc);

    source sources[MAX_CLIPS];
    int count = 0;
    for (int i = 5; i < argc && count < MAX_CLIPS; i++, count++) {
        source *s = &sources[count];
        memset(s, 0, sizeof *s);
        s->clip = rtcgate_clip_open(argv[i]);
        if (s->clip < 0) return fail(argv[i], s->clip);
        char id[32];
        snprintf(id, sizeof id, "%s-%d", argv[3], count);
        s->track = rtcgate_local_track_create(rtcgate_clip_codec(s->clip), id, argv[3]);
        if (s->track < 0) return fail("track", s->track);
        rtcgate_local_track_set_keyframe_request_callback(s->track, on_keyframe_request, NULL);
        s->frames = rtcgate_clip_frame_count(s->clip);
        s->duration_us = rtcgate_clip_duration_us(s->clip);
    }

    rtcgate_call_config config;
    memset(&config, 0, sizeof config);
    config.url = argv[1];
    config.room = argv[2];
    config.display_name = argv[3];
    rtcgate_call call = rtcgate_call_join(&config, on_event, NULL);
    if (call < 0) return fail("join", call);
    for (int i = 0; i < count; i++) {
        rc = rtcgate_call_add_track(call, sources[i].track);
        if (rc < 0) return fail("add track", rc);
    }
    printf("sending %d track(s) into room %s for %d s\n", count, argv[2], seconds);
    fflush(stdout);

    /* Push every source's next frame when its time comes. */
    int64_t start = now_us(), end = start + (int64_t)seconds * 1000000;
    long pushed = 0;
    while (now_us() < end) {
        int64_t soonest = end;
        int pushed_any = 0;
        for (int i = 0; i < count; i++) {
            source *s = &sources[i];
            const uint8_t *data; size_t size; int64_t ts;
            rtcgate_clip_frame(s->clip, s->next, &data, &size, &ts);
            ts += s->lap * s->duration_us;
            if (start + ts <= now_us()) {
                rc = rtcgate_local_track_push_sample(s->track, data, size, ts);
                if (rc < 0) return fail("push", rc);
                pushed++;
                pushed_any = 1;
                if (++s->next == s->frames) { s->next = 0; s->lap++; }
            } else if (start + ts < soonest) {
                soonest = start + ts;
            }
        }
        int64_t wait = soonest - now_us();
        if (!pushed_any && wait > 0) {
            struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
            nanosleep(&ts, NULL);
        }
    }
    printf("pushed %ld samples\n", pushed);
    rtcgate_call_destroy(call);
    for (int i = 0; i < count; i++) {
        rtcgate_local_track_destroy(sources[i].track);
        rtcgate_clip_destroy(sources[i].clip);
    }
    rtcgate_shutdown();
    return 0;
}
