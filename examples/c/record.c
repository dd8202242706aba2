/* record: joins a room and records every participant into FOLDER, one file
 * each (WebM, or Matroska with H.264), until SECONDS have passed or Ctrl-C.
 *
 *   record URL ROOM FOLDER [SECONDS]
 *
 * URL is a signalling server (ws://HOST:PORT/ws, e.g. `rtcgate demo` or
 * `rtcgate-server`); "embedded" starts one in this process on 0.0.0.0:PORT
 * (RTCGATE_PORT, default 8080; 0 picks a free port) and prints its URL first.
 * Build: cc record.c $(pkg-config --cflags --libs rtcgate) -o record */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rtcgate.h>

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static void on_log(rtcgate_log_level level, const char *target, const char *message, void *user) {
    (void)user;
    static const char *names[] = {"", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    fprintf(stderr, "%s %s: %s\n", names[level], target, message);
}

static void on_event(rtcgate_recorder rec, const rtcgate_recorder_event *e, void *user) {
    (void)rec;
    (void)user;
    switch (e->type) {
    case RTCGATE_RECORDER_EVENT_FILE_STARTED:
        printf("file started: %s (%s) for %s\n", e->path, e->codecs, e->member_id);
        break;
    case RTCGATE_RECORDER_EVENT_PROGRESS:
        printf("progress: %s %.1f s, %llu bytes, %llu frames, %llu gaps\n", e->member_name,
               (double)e->duration_us / 1e6, (unsigned long long)e->bytes,
               (unsigned long long)e->frames, (unsigned long long)e->gaps);
        break;
    case RTCGATE_RECORDER_EVENT_WRITE_FAILED:
        printf("write failed%s: %s: %s\n", e->storage_full ? " (disk full)" : "", e->path, e->message);
        break;
    case RTCGATE_RECORDER_EVENT_FINISHED:
        printf("finished: %s %.1f s (%s)%s%s\n", e->path ? e->path : "(no file)",
               (double)e->duration_us / 1e6, e->codecs ? e->codecs : "", e->message ? " error: " : "",
               e->message ? e->message : "");
        break;
    default: break;
    }
    fflush(stdout);
}

static int fail(const char *what, int code) {
    fprintf(stderr, "record: %s: %s (%s)\n", what, rtcgate_last_error(), rtcgate_error_name(code));
    rtcgate_shutdown();
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s URL|embedded ROOM FOLDER [SECONDS]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    int seconds = argc > 4 ? atoi(argv[4]) : 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    rtcgate_options options;
    memset(&options, 0, sizeof options);
    options.log_level = RTCGATE_LOG_WARN;
    options.log_callback = on_log;
    int rc = rtcgate_init(&options);
    if (rc < 0) return fail("init", rc);

    char server_url[256];
    if (strcmp(url, "embedded") == 0) {
        char bind[64];
        const char *port = getenv("RTCGATE_PORT");
        snprintf(bind, sizeof bind, "0.0.0.0:%s", port ? port : "8080");
        rtcgate_server_config sc;
        memset(&sc, 0, sizeof sc);
        sc.bind_address = bind;
        rtcgate_server server = rtcgate_server_start(&sc);
        if (server < 0) return fail("server", server);
        rtcgate_server_url(server, server_url, sizeof server_url);
        printf("server: %s\n", server_url);
        fflush(stdout);
        url = server_url; /* the server is stopped by rtcgate_shutdown */
    }

    rtcgate_recorder_config config;
    memset(&config, 0, sizeof config);
    config.call.url = url;
    config.call.room = argv[2];
    config.call.display_name = "recorder";
    config.folder = argv[3];
    rtcgate_recorder rec = rtcgate_recorder_start(&config, on_event, NULL);
    if (rec < 0) return fail("recorder", rec);
    printf("recording room %s into %s%s\n", argv[2], argv[3], seconds ? "" : " (Ctrl-C to stop)");
    fflush(stdout);

    struct timespec tick = {0, 100 * 1000 * 1000};
    for (int elapsed = 0; !stop_requested && (seconds == 0 || elapsed < seconds * 10); elapsed++) {
        nanosleep(&tick, NULL);
    }
    rc = rtcgate_recorder_stop(rec); /* FINISHED events arrive before it returns */
    if (rc < 0) return fail("stop", rc);
    printf("stopped: %d file(s)\n", rc);
    rtcgate_recorder_destroy(rec);
    rtcgate_shutdown();
    return 0;
}
