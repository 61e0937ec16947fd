/*
 * dobctl watch --reconnect against the real broker: the broker stops and
 * starts again on the same state directory while a watcher runs; the
 * watcher reconnects by itself, its pending episode comes back as a replay
 * and is not printed again, and a new episode after the restart is.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct hb_broker B;
static pid_t watcher;

static void fini(void)
{
	if (watcher > 0) {
		kill(watcher, SIGKILL);
		hp_wait(watcher, 10000);
	}
	hb_cleanup(&B);
}

TestSuite(dobctl_reconnect, .fini = fini, .timeout = 120);

/* Waits (polling; the bound only catches a hang) until the file holds
 * needle. */
static bool wait_text(const char *path, const char *needle)
{
	int64_t end = hp_now_ms() + 60000;

	while (hp_now_ms() < end) {
		if (strstr(hp_read(path), needle))
			return true;
		usleep(10000); /* polling interval, not a barrier */
	}
	return false;
}

Test(dobctl_reconnect, watch_survives_a_broker_restart_and_prints_each_episode_once)
{
	char out[HB_PATH + 32], path[HB_PATH + 32];
	char *argv[] = { "dobctl", "--endpoint", NULL, "watch", "--reconnect", "--json",
			 "--kinds", "error", "--count", "2", NULL };

	char scen[HB_PATH * 2];
	FILE *f;

	/* The simulated service keeps its jobs across broker restarts (the
	 * persist file), as the real one does. */
	hb_init(&B, NULL, NULL);
	snprintf(scen, sizeof scen,
		 "persist %s/sim-state\n"
		 "rule \"*/missing/*\" error http=404 after=20ms\n"
		 "repeat off\nmodifications off\n",
		 B.dir);
	snprintf(B.scenario, sizeof B.scenario, "%s/scenario.txt", B.dir);
	f = fopen(B.scenario, "w");
	cr_assert(f);
	fputs(scen, f);
	fclose(f);
	hb_start(&B);
	argv[2] = B.sock;
	snprintf(out, sizeof out, "%s/watch.out", B.dir);
	watcher = hp_spawn_dobctl(out, argv);

	struct dobc *mon = hc_connect(B.sock, "monitor", DOB_ROLE_OBSERVER, NULL);

	hc_wait_subscribers(mon, 1); /* the watcher (the asking monitor is not counted) */
	snprintf(path, sizeof path, "%s/one.bin", B.files);
	hc_submit(mon, "one", "http://h/missing/one", path, NULL);
	cr_assert(wait_text(out, "\"episode_id\":1,"), "episode 1 not printed:\n%s", hp_read(out));
	dobc_close(mon);

	/* The broker goes and comes back; episode 1 is still pending. */
	cr_assert_eq(hb_stop(&B), 0, "unclean stop:\n%s", hb_log_tail(&B));
	hb_start(&B);
	cr_assert(wait_text(out, "\"type\":\"reconnected\""), "no reconnection:\n%s", hp_read(out));
	cr_assert(strstr(hp_read(out), "\"pending_episodes\":1}"), "episode 1 is not pending:\n%s\n%s",
		  hp_read(out), hb_log_tail(&B));
	mon = hc_connect(B.sock, "monitor", DOB_ROLE_OBSERVER, NULL);
	snprintf(path, sizeof path, "%s/two.bin", B.files);
	hc_submit(mon, "two", "http://h/missing/two", path, NULL);

	/* --count 2: episodes 1 and 2, each printed once. */
	int code = hp_wait(watcher, 60000);

	watcher = 0;
	const char *text = hp_read(out);

	cr_assert_eq(code, 0, "dobctl exit %d:\n%s", code, text);
	cr_assert_eq(hp_count(text, "\"type\":\"job_error\""), 2, "%s\n%s", text, hb_log_tail(&B));
	/* Episode 1 was replayed to the watcher, and not printed again. */
	cr_assert_eq(hp_count(text, "\"episode_id\":1,"), 1, "%s", text);
	cr_assert_eq(hp_count(text, "\"replayed\":true"), 0, "%s", text);
	cr_assert_eq(hp_count(text, "\"type\":\"disconnected\""), 1, "%s", text);
	dobc_close(mon);
}
