/* Create/join/leave/destroy cycles for leak checks (run under valgrind or
 * natively for RSS).
 *
 * Usage: leak_cycles CYCLES [pair]
 *   each cycle: local track + call joined to an in-process server, track
 *   added, a data channel attempt, stats JSON, then everything destroyed.
 *   With "pair", a second member joins and the two connect (ICE, DTLS)
 *   before both leave: run inside .ci/with-netns.
 * Prints RSS after the warm-up (first 10 %) and at the end; exits 1 on any
 * failed call, on live handles left over, or when RSS grew by more than
 * RTCGATE_RSS_SLACK_KB (default 8192) after warm-up. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtcgate.h"

static long rss_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static atomic_int connected;
static void on_event(rtcgate_call call, const rtcgate_call_event *e, void *user) {
    (void)call;
    (void)user;
    if (e->type == RTCGATE_CALL_EVENT_CONNECTION_STATE && e->state == RTCGATE_STATE_CONNECTED)
        atomic_fetch_add(&connected, 1);
}

#define MUST(expr)                                                                   \
    do {                                                                             \
        int r_ = (int)(expr);                                                        \
        if (r_ < 0) {                                                                \
            fprintf(stderr, "cycle %d: %s -> %s: %s\n", i, #expr, rtcgate_error_name(r_), \
                    rtcgate_last_error());                                           \
            return 1;                                                                \
        }                                                                            \
    } while (0)

int main(int argc, char **argv) {
    int cycles = argc > 1 ? atoi(argv[1]) : 1000;
    int pair = argc > 2 && strcmp(argv[2], "pair") == 0;
    const char *slack_env = getenv("RTCGATE_RSS_SLACK_KB");
    long slack = slack_env ? atol(slack_env) : 8192;
    int i = -1;
    MUST(rtcgate_init(NULL));
    rtcgate_server server = rtcgate_server_start(NULL);
    MUST(server);
    char url[128];
    MUST(rtcgate_server_url(server, url, sizeof url));
    long warm = 0;
    int warmup = cycles / 10;
    for (i = 0; i < cycles; i++) {
        char room[32];
        snprintf(room, sizeof room, "room-%d", i);
        rtcgate_local_track track = rtcgate_local_track_create(RTCGATE_CODEC_VP8, "cam", "me");
        MUST(track);
        rtcgate_call_config c;
        memset(&c, 0, sizeof c);
        c.url = url;
        c.room = room;
        c.display_name = "a";
        atomic_store(&connected, 0);
        rtcgate_call a = rtcgate_call_join(&c, on_event, NULL);
        MUST(a);
        MUST(rtcgate_call_add_track(a, track));
        rtcgate_call b = 0;
        if (pair) {
            c.display_name = "b";
            b = rtcgate_call_join(&c, on_event, NULL);
            MUST(b);
            for (int w = 0; w < 1500 && atomic_load(&connected) < 2; w++) sleep_ms(10);
            if (atomic_load(&connected) < 2) {
                fprintf(stderr, "cycle %d: the pair did not connect\n", i);
                return 1;
            }
        }
        char *json = NULL;
        MUST(rtcgate_call_stats_json(a, &json));
        MUST(rtcgate_string_free(json));
        uint8_t frame[100] = {0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a};
        MUST(rtcgate_local_track_push_sample(track, frame, sizeof frame, (int64_t)i * 33000));
        MUST(rtcgate_call_destroy(a));
        if (b) MUST(rtcgate_call_destroy(b));
        MUST(rtcgate_local_track_destroy(track));
        if (i + 1 == warmup) warm = rss_kb();
    }
    long end = rss_kb();
    int live = rtcgate_live_handles();
    printf("cycles=%d pair=%d rss_after_warmup_kb=%ld rss_end_kb=%ld growth_kb=%ld live_handles=%d\n",
           cycles, pair, warm, end, end - warm, live);
    MUST(rtcgate_server_stop(server));
    MUST(rtcgate_shutdown());
    if (live != 1) {
        fprintf(stderr, "expected only the server alive, found %d handles\n", live);
        return 1;
    }
    if (warm > 0 && end - warm > slack) {
        fprintf(stderr, "RSS grew by %ld kB after warm-up (limit %ld)\n", end - warm, slack);
        return 1;
    }
    return 0;
}
