/* Exercises every function of include/rtcgate.h, including misuse: NULL
 * pointers, invalid UTF-8, stale and wrong-type handles, double destroy,
 * destroy inside a callback, calls before init and after shutdown.
 *
 * Usage: api_test MEDIA_DIR WORK_DIR   (run inside .ci/with-netns)
 * Prints one line per check; exits 1 if any failed. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rtcgate.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                             \
    do {                                                             \
        checks++;                                                    \
        if (cond) {                                                  \
            printf("ok   - ");                                       \
        } else {                                                     \
            failures++;                                              \
            printf("FAIL - (%s:%d) ", __FILE__, __LINE__);           \
        }                                                            \
        printf(__VA_ARGS__);                                         \
        printf("\n");                                                \
        fflush(stdout);                                              \
    } while (0)

#define EXPECT_CODE(expr, code)                                                      \
    do {                                                                             \
        int got_ = (int)(expr);                                                      \
        CHECK(got_ == (code), "%s -> %s (%d) [%s]", #expr, rtcgate_error_name(got_), \
              got_, rtcgate_last_error());                                           \
    } while (0)

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to `ms` for *flag to reach `at_least`. */
static int wait_for(atomic_int *flag, int at_least, int ms) {
    for (int waited = 0; waited < ms; waited += 10) {
        if (atomic_load(flag) >= at_least) return 1;
        sleep_ms(10);
    }
    return atomic_load(flag) >= at_least;
}

/* ---- log ---- */
static atomic_int log_records;
static atomic_int shutdown_in_log_cb = 1; /* result of rtcgate_shutdown inside the callback */
static void on_log(rtcgate_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)message;
    if (user == (void *)&log_records && target != NULL) atomic_fetch_add(&log_records, 1);
    if (atomic_load(&shutdown_in_log_cb) == 1) atomic_store(&shutdown_in_log_cb, rtcgate_shutdown());
}

/* ---- buffered-amount-low ---- */
static atomic_int low_events;
static atomic_int low_amount_max;
static atomic_int low_bad_user_data;
static int low_user_data;
static void on_low(rtcgate_data_channel channel, uint64_t amount, void *user) {
    (void)channel;
    if (user != &low_user_data) atomic_fetch_add(&low_bad_user_data, 1);
    if ((int)amount > atomic_load(&low_amount_max)) atomic_store(&low_amount_max, (int)amount);
    atomic_fetch_add(&low_events, 1);
}

/* ---- call events ---- */
typedef struct {
    atomic_int joined;
    atomic_int left;
    atomic_int connected;
    atomic_int track_added;
    atomic_int channel_open;
    atomic_int channel_closed;
    atomic_int bad_user_data;
    atomic_int remote_track;
    atomic_int channel;
    atomic_int opened_sum; /* sum of the handles DATA_CHANNEL_OPEN reported */
    atomic_int last_closed; /* handle the last DATA_CHANNEL_CLOSED reported */
    char peer_id[64];
    atomic_int destroy_self_on_join; /* destroy the call from its own callback */
    atomic_int destroy_result;
} call_state;

static void on_call_event(rtcgate_call call, const rtcgate_call_event *e, void *user) {
    call_state *s = (call_state *)user;
    if (s == NULL || e == NULL) return;
    switch (e->type) {
    case RTCGATE_CALL_EVENT_MEMBER_JOINED:
        if (e->member_id == NULL || e->member_name == NULL) atomic_fetch_add(&s->bad_user_data, 1);
        else snprintf(s->peer_id, sizeof s->peer_id, "%s", e->member_id);
        atomic_fetch_add(&s->joined, 1);
        if (atomic_load(&s->destroy_self_on_join)) {
            atomic_store(&s->destroy_result, rtcgate_call_destroy(call) == RTCGATE_OK ? 1 : -1);
        }
        break;
    case RTCGATE_CALL_EVENT_MEMBER_LEFT: atomic_fetch_add(&s->left, 1); break;
    case RTCGATE_CALL_EVENT_CONNECTION_STATE:
        if (e->state == RTCGATE_STATE_CONNECTED) atomic_fetch_add(&s->connected, 1);
        break;
    case RTCGATE_CALL_EVENT_TRACK_ADDED:
        atomic_store(&s->remote_track, e->remote_track);
        atomic_fetch_add(&s->track_added, 1);
        break;
    case RTCGATE_CALL_EVENT_DATA_CHANNEL_OPEN:
        atomic_store(&s->channel, e->data_channel);
        atomic_fetch_add(&s->opened_sum, e->data_channel);
        atomic_fetch_add(&s->channel_open, 1);
        break;
    case RTCGATE_CALL_EVENT_DATA_CHANNEL_CLOSED:
        atomic_store(&s->last_closed, e->data_channel);
        atomic_fetch_add(&s->channel_closed, 1);
        break;
    default: break;
    }
}

/* ---- frames ---- */
static atomic_int frames_seen;
static atomic_int frames_after_destroy;
static atomic_int frame_destroyed; /* 1 once the track destroyed itself */
static atomic_int frame_destroy_result;
static void on_frame(rtcgate_remote_track track, const rtcgate_frame *frame, void *user) {
    (void)user;
    if (frame == NULL) return;
    if (atomic_load(&frame_destroyed)) {
        atomic_fetch_add(&frames_after_destroy, 1);
        return;
    }
    if (frame->size > 0 && frame->data != NULL) atomic_fetch_add(&frames_seen, 1);
    if (atomic_load(&frames_seen) == 10) {
        atomic_store(&frame_destroy_result, rtcgate_remote_track_destroy(track));
        atomic_store(&frame_destroyed, 1);
    }
}

/* ---- messages ---- */
static atomic_int texts, binaries, numbered, out_of_order, chunks;
static char last_text[64];
static void on_message(rtcgate_data_channel ch, const uint8_t *data, size_t size, bool is_text, void *user) {
    (void)ch;
    (void)user;
    if (is_text) {
        snprintf(last_text, sizeof last_text, "%.*s", (int)size, (const char *)data);
        if (data[size] == '\0') atomic_fetch_add(&texts, 1);
    } else if (size == 3 && data[0] == 1 && data[1] == 0 && data[2] == 255) {
        atomic_fetch_add(&binaries, 1);
    } else if (size == 16 * 1024) {
        atomic_fetch_add(&chunks, 1);
    } else if (size == 5 && data[0] == 0xAB) {
        /* Numbered messages: each must be the next one. */
        int seq = data[1] | data[2] << 8 | data[3] << 16 | data[4] << 24;
        if (seq == atomic_load(&numbered)) atomic_fetch_add(&numbered, 1);
        else atomic_fetch_add(&out_of_order, 1);
    }
}

/* ---- keyframe requests ---- */
static atomic_int keyframe_requests;
static void on_keyframe_request(rtcgate_local_track t, void *user) {
    (void)t;
    (void)user;
    atomic_fetch_add(&keyframe_requests, 1);
}

/* ---- recorder ---- */
static atomic_int rec_started, rec_progress, rec_finished;
static char rec_path[512];
static void on_recorder(rtcgate_recorder r, const rtcgate_recorder_event *e, void *user) {
    (void)r;
    (void)user;
    switch (e->type) {
    case RTCGATE_RECORDER_EVENT_FILE_STARTED:
        if (e->path) snprintf(rec_path, sizeof rec_path, "%s", e->path);
        atomic_fetch_add(&rec_started, 1);
        break;
    case RTCGATE_RECORDER_EVENT_PROGRESS: atomic_fetch_add(&rec_progress, 1); break;
    case RTCGATE_RECORDER_EVENT_FINISHED: atomic_fetch_add(&rec_finished, 1); break;
    default: break;
    }
}

static rtcgate_call join(const char *url, const char *room, const char *name, call_state *s) {
    rtcgate_call_config c;
    memset(&c, 0, sizeof c);
    c.url = url;
    c.room = room;
    c.display_name = name;
    return rtcgate_call_join(&c, on_call_event, s);
}

/* Pushes the clip's frames in real time for `ms` milliseconds. */
static void push_clip(rtcgate_local_track track, rtcgate_clip clip, int ms) {
    int n = rtcgate_clip_frame_count(clip);
    int64_t dur = rtcgate_clip_duration_us(clip);
    for (int i = 0, lap = 0; ; i++) {
        if (i == n) { i = 0; lap++; }
        const uint8_t *data; size_t size; int64_t ts;
        rtcgate_clip_frame(clip, i, &data, &size, &ts);
        ts += lap * dur;
        if (ts / 1000 > ms) break;
        rtcgate_local_track_push_sample(track, data, size, ts);
        sleep_ms(33);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MEDIA_DIR WORK_DIR\n", argv[0]);
        return 2;
    }
    const char *media = argv[1];
    const char *work = argv[2];
    char path[1024];
    char buf[256];

    /* ---- before init ---- */
    CHECK(strlen(rtcgate_version()) > 0, "version %s", rtcgate_version());
    CHECK(strcmp(rtcgate_error_name(RTCGATE_ERR_HANDLE), "RTCGATE_ERR_HANDLE") == 0, "error_name");
    CHECK(strcmp(rtcgate_error_name(12345), "unknown") == 0, "error_name of an unknown code");
    EXPECT_CODE(rtcgate_server_start(NULL), RTCGATE_ERR_NOT_INITIALIZED);
    CHECK(strlen(rtcgate_last_error()) > 0, "last_error set: %s", rtcgate_last_error());
    EXPECT_CODE(rtcgate_local_track_create(RTCGATE_CODEC_VP8, "v", "s"), RTCGATE_ERR_NOT_INITIALIZED);
    EXPECT_CODE(rtcgate_shutdown(), RTCGATE_ERR_NOT_INITIALIZED);

    /* ---- init ---- */
    rtcgate_options bad;
    memset(&bad, 0, sizeof bad);
    bad.log_callback = on_log;
    bad.log_level = 3;
    bad.log_filter = "not a [valid filter";
    EXPECT_CODE(rtcgate_init(&bad), RTCGATE_ERR_INVALID);
    bad.log_filter = "\xff\xfe";
    EXPECT_CODE(rtcgate_init(&bad), RTCGATE_ERR_UTF8);
    bad.log_filter = NULL;
    bad.worker_threads = -1;
    EXPECT_CODE(rtcgate_init(&bad), RTCGATE_ERR_INVALID);

    rtcgate_options opts;
    memset(&opts, 0, sizeof opts);
    opts.log_level = RTCGATE_LOG_INFO;
    opts.log_callback = on_log;
    opts.log_user_data = &log_records;
    EXPECT_CODE(rtcgate_init(&opts), RTCGATE_OK);
    CHECK(strlen(rtcgate_last_error()) == 0, "last_error empty after success");
    EXPECT_CODE(rtcgate_init(&opts), RTCGATE_ERR_ALREADY_INITIALIZED);
    EXPECT_CODE(rtcgate_live_handles(), 0);

    /* ---- server ---- */
    rtcgate_server_config sc;
    memset(&sc, 0, sizeof sc);
    sc.bind_address = "not an address";
    EXPECT_CODE(rtcgate_server_start(&sc), RTCGATE_ERR_INVALID);
    sc.bind_address = "\xc3\x28";
    EXPECT_CODE(rtcgate_server_start(&sc), RTCGATE_ERR_UTF8);
    sc.bind_address = "127.0.0.1:0";
    sc.web_root = "/definitely/not/a/dir";
    EXPECT_CODE(rtcgate_server_start(&sc), RTCGATE_ERR_INVALID);
    rtcgate_server server = rtcgate_server_start(NULL);
    CHECK(server > 0, "server_start -> %d", server);
    int need = rtcgate_server_url(server, NULL, 0);
    CHECK(need > 10, "server_url size query -> %d", need);
    EXPECT_CODE(rtcgate_server_url(server, buf, 5), RTCGATE_ERR_TOO_SMALL);
    char url[128];
    CHECK(rtcgate_server_url(server, url, sizeof url) == need, "server_url -> %s", url);
    CHECK(strncmp(url, "ws://127.0.0.1:", 15) == 0, "url is ws://127.0.0.1:PORT/ws");
    CHECK(rtcgate_server_port(server) > 0, "server_port");
    CHECK(strlen(rtcgate_last_error()) == 0, "last_error cleared by a success");

    /* ---- handles: bogus, wrong type, stale, double destroy ---- */
    EXPECT_CODE(rtcgate_server_port(0), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_server_port(-7), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_server_port(123456), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_call_destroy(server), RTCGATE_ERR_WRONG_TYPE);
    EXPECT_CODE(rtcgate_data_channel_send_text(server, "x"), RTCGATE_ERR_WRONG_TYPE);
    EXPECT_CODE(rtcgate_recorder_stop(server), RTCGATE_ERR_WRONG_TYPE);
    EXPECT_CODE(rtcgate_clip_codec(server), RTCGATE_ERR_WRONG_TYPE);

    /* ---- local tracks ---- */
    EXPECT_CODE(rtcgate_local_track_create(0, "v", "s"), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_local_track_create(99, "v", "s"), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_local_track_create(RTCGATE_CODEC_VP8, NULL, "s"), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_local_track_create(RTCGATE_CODEC_VP8, "v", "\xff"), RTCGATE_ERR_UTF8);
    EXPECT_CODE(rtcgate_local_track_create(RTCGATE_CODEC_VP8, "", "s"), RTCGATE_ERR_INVALID);
    rtcgate_local_track scratch = rtcgate_local_track_create(RTCGATE_CODEC_OPUS, "a", "s");
    CHECK(scratch > 0, "local_track_create -> %d", scratch);
    uint8_t sample[3] = {1, 2, 3};
    EXPECT_CODE(rtcgate_local_track_push_sample(scratch, NULL, 3, 0), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_local_track_push_sample(scratch, sample, 0, 0), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_local_track_push_sample(scratch, sample, 3, -1), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_local_track_push_sample(scratch, sample, 3, 0), RTCGATE_OK);
    EXPECT_CODE(rtcgate_local_track_keyframe_requests(scratch), 0);
    EXPECT_CODE(rtcgate_local_track_set_keyframe_request_callback(scratch, NULL, NULL), RTCGATE_OK);
    EXPECT_CODE(rtcgate_server_stop(scratch), RTCGATE_ERR_WRONG_TYPE);
    EXPECT_CODE(rtcgate_local_track_destroy(scratch), RTCGATE_OK);
    EXPECT_CODE(rtcgate_local_track_destroy(scratch), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_local_track_push_sample(scratch, sample, 3, 0), RTCGATE_ERR_HANDLE);
    rtcgate_local_track reused = rtcgate_local_track_create(RTCGATE_CODEC_OPUS, "a", "s");
    CHECK(reused > 0 && reused != scratch, "a new handle differs from the stale one (%d vs %d)", reused, scratch);
    EXPECT_CODE(rtcgate_local_track_push_sample(scratch, sample, 3, 0), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_local_track_destroy(reused), RTCGATE_OK);
    EXPECT_CODE(rtcgate_local_track_create_h264(NULL, "v", "s"), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_local_track_create_h264("high", "v", "s"), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_local_track_create_h264("6e001f", "v", "s"), RTCGATE_ERR_UNSUPPORTED);
    rtcgate_local_track high = rtcgate_local_track_create_h264("64001f", "v", "s");
    CHECK(high > 0, "local_track_create_h264(64001f) -> %d", high);
    EXPECT_CODE(rtcgate_local_track_destroy(high), RTCGATE_OK);

    /* ---- clips ---- */
    EXPECT_CODE(rtcgate_clip_open(NULL), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_clip_open("/nonexistent/clip.ivf"), RTCGATE_ERR_IO);
    EXPECT_CODE(rtcgate_clip_open("/etc/hostname"), RTCGATE_ERR_INVALID);
    snprintf(path, sizeof path, "%s/testsrc-vp8.ivf", media);
    rtcgate_clip clip = rtcgate_clip_open(path);
    CHECK(clip > 0, "clip_open %s -> %d [%s]", path, clip, rtcgate_last_error());
    EXPECT_CODE(rtcgate_clip_codec(clip), RTCGATE_CODEC_VP8);
    CHECK(rtcgate_clip_frame_count(clip) > 10, "clip_frame_count %d", rtcgate_clip_frame_count(clip));
    CHECK(rtcgate_clip_duration_us(clip) > 0, "clip_duration_us");
    const uint8_t *fdata; size_t fsize; int64_t fts;
    EXPECT_CODE(rtcgate_clip_frame(clip, 0, &fdata, &fsize, &fts), RTCGATE_OK);
    CHECK(fsize > 0 && fts == 0, "first frame %zu bytes at %lld", fsize, (long long)fts);
    EXPECT_CODE(rtcgate_clip_frame(clip, -1, &fdata, &fsize, &fts), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_clip_frame(clip, 1 << 20, &fdata, &fsize, &fts), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_clip_frame(clip, 0, NULL, &fsize, &fts), RTCGATE_ERR_NULL);

    /* ---- calls: argument errors ---- */
    call_state sa, sb, sc3;
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    memset(&sc3, 0, sizeof sc3);
    EXPECT_CODE(rtcgate_call_join(NULL, NULL, NULL), RTCGATE_ERR_NULL);
    EXPECT_CODE(join(url, NULL, "a", &sa), RTCGATE_ERR_NULL);
    EXPECT_CODE(join(url, "r\xff", "a", &sa), RTCGATE_ERR_UTF8);
    EXPECT_CODE(join(url, "", "a", &sa), RTCGATE_ERR_INVALID);
    EXPECT_CODE(join("ws://127.0.0.1:1/ws", "room", "a", &sa), RTCGATE_ERR_SIGNALLING);
    rtcgate_call_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.url = url; cfg.room = "room"; cfg.display_name = "a"; cfg.ice_servers_count = 1;
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_NULL);
    cfg.ice_servers_count = 0; cfg.bind_address = "nope";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_INVALID);
    cfg.bind_address = NULL; cfg.join_timeout_ms = -1;
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_INVALID);
    cfg.join_timeout_ms = 0; cfg.token = "bad \xff";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_UTF8);
    /* call options in their text form, the signaller from the URL */
    cfg.token = NULL; cfg.options = "ice-timeouts=soon";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_INVALID);
    cfg.options = "no-such-option=1";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_INVALID);
    cfg.options = NULL; cfg.url = "http://127.0.0.1:1/whip";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_INVALID);
    cfg.url = "whip+http://127.0.0.1:1/whip";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_SIGNALLING);
    cfg.url = url; cfg.tracks_count = 1;
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_NULL);
    cfg.tracks_count = 0;

    /* ---- room tokens: the first member sets it, others must match ---- */
    cfg.room = "locked"; cfg.display_name = "owner"; cfg.token = "s3cret";
    rtcgate_call owner = rtcgate_call_join(&cfg, NULL, NULL);
    CHECK(owner > 0, "owner joins with a token -> %d [%s]", owner, rtcgate_last_error());
    cfg.display_name = "intruder"; cfg.token = "guess";
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_REJECTED);
    CHECK(strstr(rtcgate_last_error(), "token") != NULL, "wrong token is named: %s", rtcgate_last_error());
    cfg.token = NULL;
    EXPECT_CODE(rtcgate_call_join(&cfg, NULL, NULL), RTCGATE_ERR_REJECTED);
    cfg.display_name = "guest"; cfg.token = "s3cret";
    rtcgate_call guest = rtcgate_call_join(&cfg, NULL, NULL);
    CHECK(guest > 0, "guest joins with the token -> %d [%s]", guest, rtcgate_last_error());
    EXPECT_CODE(rtcgate_call_destroy(guest), RTCGATE_OK);
    EXPECT_CODE(rtcgate_call_destroy(owner), RTCGATE_OK);

    /* ---- two members: media, data, stats ---- */
    rtcgate_call a = join(url, "room", "alice", &sa);
    CHECK(a > 0, "alice joins -> %d [%s]", a, rtcgate_last_error());
    rtcgate_call b = join(url, "room", "bob", &sb);
    CHECK(b > 0, "bob joins -> %d [%s]", b, rtcgate_last_error());
    CHECK(wait_for(&sa.joined, 1, 5000) && wait_for(&sb.joined, 1, 5000), "both see the other join");
    need = rtcgate_call_self_id(b, buf, sizeof buf);
    CHECK(need > 1 && strcmp(buf, sa.peer_id) == 0, "self_id of bob matches what alice saw (%s)", buf);

    EXPECT_CODE(rtcgate_call_create_data_channel(a, NULL, "chat", NULL), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_call_create_data_channel(a, "no-such-member", "chat", NULL), RTCGATE_ERR_INVALID);
    rtcgate_data_channel ch = rtcgate_call_create_data_channel(a, sa.peer_id, "chat", NULL);
    CHECK(ch > 0, "create_data_channel -> %d [%s]", ch, rtcgate_last_error());
    CHECK(wait_for(&sa.connected, 1, 15000) && wait_for(&sb.connected, 1, 15000), "both connected");
    CHECK(wait_for(&sa.channel_open, 1, 10000) && wait_for(&sb.channel_open, 1, 10000), "channel open on both sides");
    CHECK(atomic_load(&sa.channel) == ch, "open event reports the created handle (%d, %d)", atomic_load(&sa.channel), ch);
    rtcgate_data_channel chb = atomic_load(&sb.channel);
    EXPECT_CODE(rtcgate_data_channel_set_message_callback(chb, on_message, NULL), RTCGATE_OK);
    EXPECT_CODE(rtcgate_data_channel_is_open(ch), 1);
    rtcgate_data_channel_label(chb, buf, sizeof buf);
    CHECK(strcmp(buf, "chat") == 0, "label %s", buf);
    CHECK(rtcgate_data_channel_member(ch, buf, sizeof buf) > 1, "member %s", buf);
    EXPECT_CODE(rtcgate_data_channel_send_text(ch, NULL), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_data_channel_send_text(ch, "bad \xff utf8"), RTCGATE_ERR_UTF8);
    EXPECT_CODE(rtcgate_data_channel_send(ch, NULL, 3), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_data_channel_send_text(ch, "hello from C"), RTCGATE_OK);
    uint8_t bin[3] = {1, 0, 255};
    EXPECT_CODE(rtcgate_data_channel_send(ch, bin, 3), RTCGATE_OK);
    CHECK(rtcgate_data_channel_buffered_amount(ch) >= 0, "buffered_amount");
    CHECK(wait_for(&texts, 1, 5000) && strcmp(last_text, "hello from C") == 0, "text arrives: %s", last_text);
    CHECK(wait_for(&binaries, 1, 5000), "binary arrives");
    /* Many small messages: all delivered, in order, while the sender keeps
       its buffer bounded with wait_buffered_below. */
    EXPECT_CODE(rtcgate_data_channel_wait_buffered_below(0, 0, 10), RTCGATE_ERR_HANDLE);
    enum { NUMBERED = 5000 };
    for (int i = 0; i < NUMBERED; i++) {
        uint8_t m[5] = {0xAB, (uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16), (uint8_t)(i >> 24)};
        if (rtcgate_data_channel_send(ch, m, sizeof m) != RTCGATE_OK) {
            CHECK(0, "numbered send %d [%s]", i, rtcgate_last_error());
            break;
        }
        if (i % 1000 == 999)
            EXPECT_CODE(rtcgate_data_channel_wait_buffered_below(ch, 1024, 10000), RTCGATE_OK);
    }
    EXPECT_CODE(rtcgate_data_channel_wait_buffered_below(ch, 0, 10000), RTCGATE_OK);
    EXPECT_CODE(rtcgate_data_channel_buffered_amount(ch), 0);
    CHECK(wait_for(&numbered, NUMBERED, 10000), "numbered messages arrive: %d of %d",
          atomic_load(&numbered), NUMBERED);
    EXPECT_CODE(atomic_load(&out_of_order), 0);

    /* Buffered-amount-low: bob stops reading, so alice's queue builds up
       behind his closed receive window; when he reads again it drains
       through the threshold: exactly one callback, with the amount at or
       below the threshold. */
    EXPECT_CODE(rtcgate_data_channel_set_buffered_amount_low_threshold(0, 1024), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_data_channel_set_buffered_amount_low_callback(0, on_low, NULL), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_data_channel_set_buffered_amount_low_threshold(ch, 64 * 1024), RTCGATE_OK);
    EXPECT_CODE(rtcgate_data_channel_set_message_callback(chb, NULL, NULL), RTCGATE_OK);
    static uint8_t chunk[16 * 1024];
    int sent = 0;
    for (int waited = 0; waited < 60000 && rtcgate_data_channel_buffered_amount(ch) <= 4 * 64 * 1024; waited++) {
        if (rtcgate_data_channel_send(ch, chunk, sizeof chunk) != RTCGATE_OK) break;
        sent++;
        sleep_ms(1);
    }
    CHECK(rtcgate_data_channel_buffered_amount(ch) > 4 * 64 * 1024, "%d chunks sent to a reader that paused: %lld buffered",
          sent, (long long)rtcgate_data_channel_buffered_amount(ch));
    EXPECT_CODE(rtcgate_data_channel_set_buffered_amount_low_callback(ch, on_low, &low_user_data), RTCGATE_OK);
    EXPECT_CODE(rtcgate_data_channel_set_message_callback(chb, on_message, NULL), RTCGATE_OK);
    CHECK(wait_for(&low_events, 1, 60000), "buffered-amount-low fires (%d)", atomic_load(&low_events));
    for (int waited = 0; waited < 60000 && rtcgate_data_channel_buffered_amount(ch) > 0; waited += 10) sleep_ms(10);
    EXPECT_CODE(rtcgate_data_channel_buffered_amount(ch), 0);
    sleep_ms(200);
    EXPECT_CODE(atomic_load(&low_events), 1);
    CHECK(atomic_load(&low_amount_max) <= 64 * 1024, "the callback saw at most the threshold (%d)",
          atomic_load(&low_amount_max));
    EXPECT_CODE(atomic_load(&low_bad_user_data), 0);
    CHECK(wait_for(&chunks, sent, 60000), "bob reads all %d chunks (%d)", sent, atomic_load(&chunks));
    EXPECT_CODE(rtcgate_data_channel_set_buffered_amount_low_callback(ch, NULL, NULL), RTCGATE_OK);

    /* Two channels with one label to one member: each open and close event
       names the handle its creation returned. */
    int open_before = atomic_load(&sa.channel_open), sum_before = atomic_load(&sa.opened_sum);
    rtcgate_data_channel twin1 = rtcgate_call_create_data_channel(a, sa.peer_id, "twin", NULL);
    rtcgate_data_channel twin2 = rtcgate_call_create_data_channel(a, sa.peer_id, "twin", NULL);
    CHECK(twin1 > 0 && twin2 > 0 && twin1 != twin2, "two channels labelled twin (%d, %d)", twin1, twin2);
    CHECK(wait_for(&sa.channel_open, open_before + 2, 10000), "both twins open");
    EXPECT_CODE(atomic_load(&sa.opened_sum) - sum_before, twin1 + twin2);
    int closed_before = atomic_load(&sa.channel_closed);
    EXPECT_CODE(rtcgate_data_channel_close(twin2), RTCGATE_OK);
    CHECK(wait_for(&sa.channel_closed, closed_before + 1, 5000), "twin2 closes");
    EXPECT_CODE(atomic_load(&sa.last_closed), twin2);
    EXPECT_CODE(rtcgate_data_channel_is_open(twin1), 1);
    EXPECT_CODE(rtcgate_data_channel_destroy(twin1), RTCGATE_OK);
    EXPECT_CODE(rtcgate_data_channel_destroy(twin2), RTCGATE_OK);
    CHECK(wait_for(&sb.channel_closed, 2, 5000), "bob sees both twins close");

    rtcgate_local_track video = rtcgate_local_track_create(RTCGATE_CODEC_VP8, "cam", "alice");
    CHECK(video > 0, "video track");
    EXPECT_CODE(rtcgate_local_track_set_keyframe_request_callback(video, on_keyframe_request, NULL), RTCGATE_OK);
    EXPECT_CODE(rtcgate_call_add_track(a, video), RTCGATE_OK);
    EXPECT_CODE(rtcgate_call_add_track(a, video), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_call_add_track(a, b), RTCGATE_ERR_WRONG_TYPE);

    push_clip(video, clip, 2500);
    CHECK(wait_for(&sb.track_added, 1, 5000), "bob sees the track");
    rtcgate_remote_track rt = atomic_load(&sb.remote_track);
    EXPECT_CODE(rtcgate_remote_track_codec(rt), RTCGATE_CODEC_VP8);
    rtcgate_remote_track_id(rt, buf, sizeof buf);
    CHECK(strcmp(buf, "cam") == 0, "remote track id %s", buf);
    CHECK(rtcgate_remote_track_member(rt, buf, sizeof buf) > 1, "remote track member");
    /* Before the frame callback: it destroys the track after 10 frames,
     * and frames queued since TRACK_ADDED arrive at once. */
    EXPECT_CODE(rtcgate_remote_track_request_keyframe(rt), RTCGATE_OK);
    EXPECT_CODE(rtcgate_remote_track_set_frame_callback(rt, on_frame, NULL), RTCGATE_OK);
    push_clip(video, clip, 2500);
    CHECK(wait_for(&frames_seen, 10, 5000), "frames arrive (%d)", atomic_load(&frames_seen));
    CHECK(wait_for(&frame_destroyed, 1, 5000) && atomic_load(&frame_destroy_result) == RTCGATE_OK,
          "remote track destroyed from its own frame callback");
    push_clip(video, clip, 1000);
    CHECK(atomic_load(&frames_after_destroy) == 0, "no frame callback after destroy");
    EXPECT_CODE(rtcgate_remote_track_request_keyframe(rt), RTCGATE_ERR_HANDLE);
    CHECK(wait_for(&keyframe_requests, 1, 3000) || rtcgate_local_track_keyframe_requests(video) > 0,
          "the sender heard a keyframe request");

    char *json = NULL;
    EXPECT_CODE(rtcgate_call_stats_json(a, NULL), RTCGATE_ERR_NULL);
    EXPECT_CODE(rtcgate_call_stats_json(a, &json), RTCGATE_OK);
    CHECK(json != NULL && strstr(json, "\"members\"") != NULL && strstr(json, "\"outbound\"") != NULL,
          "stats JSON: %.80s...", json ? json : "(null)");
    CHECK(json != NULL && strstr(json, "\"candidate_type\":\"host\"") != NULL
              && strstr(json, "\"address\":\"10.99.0.") != NULL && strstr(json, "\"relay_protocol\":null") != NULL,
          "stats JSON names the pair's candidates: %s", json ? json : "(null)");
    EXPECT_CODE(rtcgate_string_free(json), RTCGATE_OK);
    EXPECT_CODE(rtcgate_string_free(json), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_string_free(buf), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_string_free(NULL), RTCGATE_OK);

    /* ---- recorder ---- */
    rtcgate_recorder_config rc;
    memset(&rc, 0, sizeof rc);
    EXPECT_CODE(rtcgate_recorder_start(NULL, NULL, NULL), RTCGATE_ERR_NULL);
    rc.call.url = url; rc.call.room = "room"; rc.call.display_name = "recorder";
    EXPECT_CODE(rtcgate_recorder_start(&rc, on_recorder, NULL), RTCGATE_ERR_NULL); /* no folder */
    snprintf(path, sizeof path, "%s/recordings", work);
    rc.folder = path;
    rtcgate_recorder rec = rtcgate_recorder_start(&rc, on_recorder, NULL);
    CHECK(rec > 0, "recorder_start -> %d [%s]", rec, rtcgate_last_error());
    push_clip(video, clip, 4000);
    CHECK(atomic_load(&rec_started) >= 1, "recorder: file started (%s)", rec_path);
    CHECK(atomic_load(&rec_progress) >= 1, "recorder: progress events");
    int closed = rtcgate_recorder_stop(rec);
    CHECK(closed >= 1, "recorder_stop closed %d file(s)", closed);
    CHECK(atomic_load(&rec_finished) >= 1, "FINISHED delivered before stop returned");
    struct stat st;
    CHECK(stat(rec_path, &st) == 0 && st.st_size > 1000, "recording %s has %lld bytes", rec_path,
          (long long)st.st_size);
    EXPECT_CODE(rtcgate_recorder_stop(rec), 0);
    EXPECT_CODE(rtcgate_recorder_destroy(rec), RTCGATE_OK);
    EXPECT_CODE(rtcgate_recorder_destroy(rec), RTCGATE_ERR_HANDLE);

    /* ---- destroy a call from inside its own callback ---- */
    atomic_store(&sc3.destroy_self_on_join, 1);
    rtcgate_call c3 = join(url, "room", "carol", &sc3);
    CHECK(c3 > 0, "carol joins");
    CHECK(wait_for(&sc3.destroy_result, 1, 5000), "carol's call destroyed from its own event callback");
    EXPECT_CODE(rtcgate_call_destroy(c3), RTCGATE_ERR_HANDLE);

    /* ---- close and destroy ---- */
    EXPECT_CODE(rtcgate_data_channel_close(ch), RTCGATE_OK);
    CHECK(wait_for(&sb.channel_closed, 3, 5000), "bob sees the channel close");
    EXPECT_CODE(rtcgate_data_channel_destroy(ch), RTCGATE_OK);
    EXPECT_CODE(rtcgate_data_channel_destroy(ch), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_call_remove_track(a, video), RTCGATE_OK);
    EXPECT_CODE(rtcgate_call_remove_track(a, video), RTCGATE_ERR_INVALID);
    EXPECT_CODE(rtcgate_call_destroy(a), RTCGATE_OK);
    CHECK(wait_for(&sb.left, 1, 5000), "bob sees alice leave");
    EXPECT_CODE(rtcgate_call_destroy(a), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_call_stats_json(a, &json), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_data_channel_send_text(chb, "x"), RTCGATE_ERR_CLOSED);
    EXPECT_CODE(rtcgate_local_track_destroy(video), RTCGATE_OK);
    EXPECT_CODE(rtcgate_clip_destroy(clip), RTCGATE_OK);
    EXPECT_CODE(rtcgate_clip_destroy(clip), RTCGATE_ERR_HANDLE);
    CHECK(atomic_load(&sa.bad_user_data) == 0 && atomic_load(&sb.bad_user_data) == 0, "events carry member id and name");
    CHECK(atomic_load(&log_records) > 0, "log callback received %d records", atomic_load(&log_records));
    CHECK(atomic_load(&shutdown_in_log_cb) == RTCGATE_ERR_IN_CALLBACK, "shutdown inside a callback is refused");
    /* b (and its channel) are still alive: shutdown destroys them. */
    CHECK(rtcgate_live_handles() >= 2, "live handles before shutdown: %d", rtcgate_live_handles());

    /* ---- shutdown ---- */
    json = NULL;
    EXPECT_CODE(rtcgate_server_url(server, NULL, 0) > 0, 1);
    EXPECT_CODE(rtcgate_shutdown(), RTCGATE_OK);
    EXPECT_CODE(rtcgate_shutdown(), RTCGATE_ERR_NOT_INITIALIZED);
    EXPECT_CODE(rtcgate_call_destroy(b), RTCGATE_ERR_NOT_INITIALIZED);
    EXPECT_CODE(rtcgate_server_port(server), RTCGATE_ERR_NOT_INITIALIZED);
    EXPECT_CODE(rtcgate_data_channel_send_text(chb, "x"), RTCGATE_ERR_NOT_INITIALIZED);
    EXPECT_CODE(rtcgate_clip_open(path), RTCGATE_ERR_NOT_INITIALIZED);
    EXPECT_CODE(rtcgate_live_handles(), 0);

    /* ---- init again ---- */
    EXPECT_CODE(rtcgate_init(NULL), RTCGATE_OK);
    EXPECT_CODE(rtcgate_server_port(server), RTCGATE_ERR_HANDLE);
    rtcgate_server s2 = rtcgate_server_start(NULL);
    CHECK(s2 > 0, "a server after re-init");
    EXPECT_CODE(rtcgate_server_stop(s2), RTCGATE_OK);
    EXPECT_CODE(rtcgate_server_stop(s2), RTCGATE_ERR_HANDLE);
    EXPECT_CODE(rtcgate_shutdown(), RTCGATE_OK);

    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
