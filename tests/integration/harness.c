/* harness.c - see harness.h. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dob/alloc.h"

static char bindir[PATH_MAX];

const char *hp_bin(const char *name)
{
	static char path[PATH_MAX + 64];

	if (!bindir[0] && getenv("DOB_IT_BINDIR") && *getenv("DOB_IT_BINDIR")) {
		/* The programs of another build (the TSan run: Criterion cannot
		 * run under TSan, dobrokerd can). */
		snprintf(bindir, sizeof bindir, "%s", getenv("DOB_IT_BINDIR"));
	} else if (!bindir[0]) {
		/* The binary is build/<target>/tests/integration: programs are in
		 * build/<target>/bin. */
		char self[PATH_MAX - 16];
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

		cr_assert(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(bindir, sizeof bindir, "%s/../bin", self);
	}
	snprintf(path, sizeof path, "%s/%s", bindir, name);
	return path;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

void hb_init(struct hb_broker *b, const char *scenario, ...)
{
	va_list ap;
	const char *a;
	char tmpl[] = "/tmp/dobroker-it-XXXXXX";

	memset(b, 0, sizeof *b);
	cr_assert(mkdtemp(tmpl), "mkdtemp: %s", strerror(errno));
	snprintf(b->dir, sizeof b->dir, "%s", tmpl);
	snprintf(b->sock, sizeof b->sock, "%s/broker.sock", b->dir);
	snprintf(b->state, sizeof b->state, "%s/state", b->dir);
	snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
	snprintf(b->files, sizeof b->files, "%s/files", b->dir);
	/* Local paths of any test identity go here. The directory above may be
	 * crossed by anyone but written only by root (0711), which the
	 * confused-deputy tests rely on. */
	cr_assert(chmod(b->dir, 0711) == 0);
	cr_assert(mkdir(b->files, 0777) == 0 && chmod(b->files, 0777) == 0);
	if (scenario) {
		snprintf(b->scenario, sizeof b->scenario, "%s/scenario.txt", b->dir);
		write_file(b->scenario, scenario);
	}
	va_start(ap, scenario);
	while ((a = va_arg(ap, const char *)) != NULL) {
		cr_assert(b->n_args < HB_MAX_ARGS);
		b->args[b->n_args++] = strdup(a);
	}
	va_end(ap);
}

int hb_add_identity(struct hb_broker *b, const char *spec)
{
	int i = b->n_listeners++;

	cr_assert(i < HB_MAX_LISTENERS);
	snprintf(b->listener_sock[i], HB_PATH, "%s/id%d.sock", b->dir, i);
	char sock[HB_PATH];

	memcpy(sock, b->listener_sock[i], sizeof sock);
	snprintf(b->listener_spec[i], HB_PATH, "%.200s=%.300s", sock, spec);
	return i;
}

static bool answers(const char *endpoint)
{
	struct dobc *c = NULL;

	if (hc_try_connect(endpoint, "probe", DOB_ROLE_OBSERVER, NULL, &c, NULL) != 0)
		return false;
	dobc_close(c);
	return true;
}

/* A sanitized dobrokerd (SAN builds) ends with an exit status of its own
 * when it finds an error or a leak: a clean stop (SIGTERM -> 0) then shows
 * it. The caller's options come last and win. Runs in the child. */
static void san_env(void)
{
	static const char *const defaults[][2] = {
		{ "ASAN_OPTIONS", "detect_leaks=1:exitcode=" HB_SAN_EXIT_STR },
		{ "UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=" HB_SAN_EXIT_STR },
		{ "TSAN_OPTIONS", "exitcode=" HB_SAN_EXIT_STR },
	};

	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		const char *old = getenv(defaults[i][0]);
		char v[1024];

		snprintf(v, sizeof v, "%s%s%s", defaults[i][1], old && *old ? ":" : "",
			 old ? old : "");
		setenv(defaults[i][0], v, 1);
	}
}

/* The first sanitizer report in text, or NULL. */
static const char *san_report(const char *text)
{
	static const char *const marks[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: ",
		"WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer",
		/* valgrind (make valgrind) */
		"== Invalid ", "== Conditional jump", "== Syscall param", "== Mismatched free",
		" are definitely lost in loss record", " are indirectly lost in loss record",
	};
	const char *first = NULL;

	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
		const char *p = strstr(text, marks[i]);

		if (p && (!first || p < first))
			first = p;
	}
	if (!first)
		return NULL;
	while (first > text && first[-1] != '\n')
		first--;
	return first;
}

void hb_start(struct hb_broker *b)
{
	char *argv[HB_MAX_ARGS + 32];
	char ep[HB_PATH + 16], st[HB_PATH + 16], sc[HB_PATH + 16];
	char tl[HB_MAX_LISTENERS][HB_PATH * 2 + 32];
	int n = 0;

	argv[n++] = (char *)hp_bin("dobrokerd");
	snprintf(ep, sizeof ep, "--endpoint=%s", b->sock);
	snprintf(st, sizeof st, "--state-dir=%s", b->state);
	argv[n++] = ep;
	argv[n++] = st;
	argv[n++] = "--backend=sim";
	argv[n++] = "--log-level=debug";
	if (b->scenario[0]) {
		snprintf(sc, sizeof sc, "--scenario=%s", b->scenario);
		argv[n++] = sc;
	}
	for (int i = 0; i < b->n_listeners; i++) {
		snprintf(tl[i], sizeof tl[i], "--test-listener=%s", b->listener_spec[i]);
		argv[n++] = tl[i];
	}
	for (int i = 0; i < b->n_args; i++)
		argv[n++] = b->args[i];
	argv[n] = NULL;

	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		san_env();
		execv(argv[0], argv);
		_exit(127);
	}
	b->pid = pid;
	/* Until it answers; the bound (60 s) only catches a broker that hangs
	 * at start (a sanitized broker replaying a long journal on a loaded
	 * machine takes seconds). */
	for (int i = 0; i < 3000; i++) {
		int st_;

		if (waitpid(pid, &st_, WNOHANG) == pid) {
			b->pid = 0;
			cr_assert_fail("dobrokerd exited at start (status %d):\n%s", st_,
				       hb_log_tail(b));
		}
		if (answers(b->sock))
			return;
		usleep(20000);
	}
	cr_assert_fail("dobrokerd did not answer on %s:\n%s", b->sock, hb_log_tail(b));
}

/* Says (a failed expectation, and the report on stderr, where
 * scripts/check.sh finds it even from a .fini) when the broker did not stop
 * cleanly or its log holds a sanitizer report. */
static void expect_clean(struct hb_broker *b, int status, bool stopped)
{
	const char *log = hp_read(b->log);
	const char *rep = san_report(log);
	char how[64];

	if (!stopped)
		snprintf(how, sizeof how, "did not stop within 5 s of SIGTERM");
	else if (WIFEXITED(status))
		snprintf(how, sizeof how, "exited with %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof how, "was killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	if (stopped && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !rep)
		return;
	if (!rep)
		rep = hb_log_tail(b);
	fprintf(stderr, "dobrokerd stopped uncleanly (%s, %s); its log:\n%.6000s\n", b->dir, how,
		rep);
	cr_expect_fail("dobrokerd %s (log above)%s", how,
		       san_report(hp_read(b->log)) ? ": a sanitizer or valgrind report in its log"
						   : "");
	b->unclean = true;
}

int hb_stop(struct hb_broker *b)
{
	int status = 0;

	if (b->pid <= 0)
		return 0;
	kill(b->pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			b->pid = 0;
			expect_clean(b, status, true);
			return status;
		}
		usleep(10000);
	}
	kill(b->pid, SIGKILL);
	waitpid(b->pid, &status, 0);
	b->pid = 0;
	expect_clean(b, status, false);
	return -1;
}

void hb_kill9(struct hb_broker *b)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
}

void hb_cleanup(struct hb_broker *b)
{
	char cmd[HB_PATH + 32];

	if (b->pid > 0)
		hb_stop(b);
	else if (b->dir[0] && !b->unclean && san_report(hp_read(b->log)))
		expect_clean(b, SIGKILL, true); /* killed with -9 earlier */
	for (int i = 0; i < b->n_args; i++)
		free(b->args[i]);
	b->n_args = 0;
	if (b->dir[0] && strncmp(b->dir, "/tmp/dobroker-it-", 17) == 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", b->dir);
	}
	b->dir[0] = '\0';
}

const char *hp_read(const char *path)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return buf;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

const char *hb_log_tail(const struct hb_broker *b)
{
	/* The file's last 4000 bytes (a long run's log is past hp_read's
	 * buffer, whose tail would be the middle of the log). */
	static char buf[4001];
	FILE *f = fopen(b->log, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return buf;
	if (fseek(f, 0, SEEK_END) == 0) {
		long end = ftell(f);

		if (end > 4000)
			fseek(f, end - 4000, SEEK_SET);
		else
			rewind(f);
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int hp_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t len = strlen(needle);

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += len)
		n++;
	return n;
}

int hc_try_connect(const char *endpoint, const char *name, enum dob_role role,
		   const struct dob_filter *filter, struct dobc **out, struct dobc_error *err)
{
	struct dobc_options o = {
		.endpoint = endpoint,
		.client_name = name,
		.role = role,
		.filter = filter,
		.connect_timeout_ms = 3000,
		.max_queued_events = 100000,
		.error = err,
	};

	return dobc_connect(out, &o);
}

struct dobc *hc_connect(const char *endpoint, const char *name, enum dob_role role,
			const struct dob_filter *filter)
{
	struct dobc *c = NULL;
	struct dobc_error e = {0};
	int err = hc_try_connect(endpoint, name, role, filter, &c, &e);

	cr_assert(err == 0, "connect %s as %s: %s (%s)", endpoint, name, dobc_strerror(err),
		  e.message);
	return c;
}

int64_t hp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hc_wait(struct dobc *c, enum dob_msg_type t, struct dob_msg *out, int timeout_ms)
{
	int64_t end = hp_now_ms() + timeout_ms;

	for (;;) {
		int64_t left = end - hp_now_ms();
		struct dob_msg m = {0};
		int err;

		if (left < 0)
			left = 0;
		err = dobc_next_event(c, &m, (int)left);
		if (err < 0)
			return err;
		if (m.type == t) {
			if (out)
				*out = m;
			else
				dob_msg_clear(&m);
			return 0;
		}
		dob_msg_clear(&m);
		if (left == 0)
			return -DOB_ETIMEDOUT;
	}
}

int hc_count(struct dobc *c, enum dob_msg_type t, int ms, struct dob_msg *last)
{
	int64_t end = hp_now_ms() + ms;
	int n = 0;

	for (;;) {
		int64_t left = end - hp_now_ms();
		struct dob_msg m = {0};

		if (left <= 0)
			return n;
		if (dobc_next_event(c, &m, (int)left) < 0)
			return n;
		if (m.type == t) {
			n++;
			if (last) {
				dob_msg_clear(last);
				*last = m;
				continue;
			}
		}
		dob_msg_clear(&m);
	}
}

uint64_t hc_wait_error(struct dobc *c, const struct dob_guid *job, int timeout_ms)
{
	int64_t end = hp_now_ms() + timeout_ms;
	struct dob_msg m = {0};
	uint64_t ep;

	for (;;) {
		int64_t left = end - hp_now_ms();

		cr_assert_eq(hc_wait(c, DOB_MSG_JOB_ERROR, &m, left > 0 ? (int)left : 0), 0,
			     "no JobError for the job");
		if (!memcmp(&m.u.job_error.job.job_id, job, sizeof *job))
			break;
		dob_msg_clear(&m);
	}
	ep = m.u.job_error.episode_id;
	dob_msg_clear(&m);
	return ep;
}

struct dob_stats hc_stats(struct dobc *c)
{
	struct dob_stats st = {0};
	int err = dobc_stats(c, &st, 5000);

	cr_assert_eq(err, 0, "GetStats: %s", dobc_strerror(err));
	return st;
}

static void submit_req(struct dob_submit_job *req, struct dob_file_spec *f, const char *name,
		       const char *url, const char *local_path, const struct dob_policy *policy)
{
	memset(req, 0, sizeof *req);
	f->remote_url = (char *)url;
	f->local_path = (char *)local_path;
	req->display_name = (char *)name;
	req->n_files = 1;
	req->files = f;
	req->priority = DOB_PRIORITY_NORMAL;
	req->type = DOB_JOB_DOWNLOAD;
	if (policy)
		req->policy = *policy;
}

struct dob_guid hc_submit(struct dobc *c, const char *name, const char *url,
			  const char *local_path, const struct dob_policy *policy)
{
	struct dob_submit_job req;
	struct dob_file_spec f;
	struct dob_job_reply r = {0};
	struct dob_guid id;
	int err;

	submit_req(&req, &f, name, url, local_path, policy);
	err = dobc_submit(c, &req, &r, 5000);
	cr_assert(err == 0 || err == -DOB_EREMOTE, "submit %s: %s", name, dobc_strerror(err));
	cr_assert(r.status == DOB_STATUS_OK, "submit %s: %s %s", name, dob_status_name(r.status),
		  r.message ? r.message : "");
	cr_assert(r.has_job);
	id = r.job.job.job_id;
	dobc_job_reply_clear(&r);
	return id;
}

enum dob_status hc_submit_status(struct dobc *c, const char *name, const char *url,
				 const char *local_path, char *msg, size_t msglen)
{
	struct dob_submit_job req;
	struct dob_file_spec f;
	struct dob_job_reply r = {0};
	enum dob_status st;
	int err;

	submit_req(&req, &f, name, url, local_path, NULL);
	err = dobc_submit(c, &req, &r, 5000);
	cr_assert(err == 0 || err == -DOB_EREMOTE, "submit %s: %s", name, dobc_strerror(err));
	st = r.status;
	if (msg)
		snprintf(msg, msglen, "%s", r.message ? r.message : "");
	dobc_job_reply_clear(&r);
	return st;
}

pid_t hp_spawn_dobctl(const char *out_path, char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int devnull = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd < 0 || devnull < 0)
			_exit(126);
		dup2(devnull, 0);
		dup2(fd, 1);
		execv(hp_bin("dobctl"), argv);
		_exit(127);
	}
	return pid;
}

int hp_wait(pid_t pid, int timeout_ms)
{
	int status;

	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* ---------------------------------------------------------------- figures */

long hp_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int hp_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long hp_raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < want) {
		if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < want) {
			struct rlimit up = {(rlim_t)want, (rlim_t)want};

			if (setrlimit(RLIMIT_NOFILE, &up) == 0) /* root may raise the hard limit */
				rl = up;
		}
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max >= want
				      ? (rlim_t)want
				      : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

/* ---------------------------------------------------------------- raw peer */

void hr_open(struct hr_conn *r, const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	memset(r, 0, sizeof *r);
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(r->fd >= 0, "socket: %s", strerror(errno));
	cr_assert(strlen(path) < sizeof a.sun_path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	cr_assert(connect(r->fd, (struct sockaddr *)&a, sizeof a) == 0, "connect %s: %s", path,
		  strerror(errno));
	dob_decoder_init(&r->dec, DOB_MAX_FRAME_CEILING);
}

void hr_close(struct hr_conn *r)
{
	if (r->fd > 0)
		close(r->fd);
	r->fd = -1;
	dob_decoder_free(&r->dec);
	r->off = r->len = 0;
}

void hr_send(struct hr_conn *r, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = send(r->fd, b, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		cr_assert(k > 0, "send: %s", strerror(errno));
		b += k;
		n -= (size_t)k;
	}
}

void hr_send_msg(struct hr_conn *r, const struct dob_msg *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_DEFAULT, &buf, &len, NULL), 0);
	hr_send(r, buf, len);
	dob_free(buf);
}

void hr_hello(struct hr_conn *r, const char *name, enum dob_role role)
{
	struct dob_msg m = {.type = DOB_MSG_HELLO};

	m.u.hello.min_version = 1;
	m.u.hello.max_version = 1;
	m.u.hello.client_name = (char *)name;
	m.u.hello.role = role;
	hr_send_msg(r, &m);
}

int hr_next(struct hr_conn *r, struct dob_msg *out, int timeout_ms)
{
	int64_t end = hp_now_ms() + timeout_ms;

	memset(out, 0, sizeof *out);
	for (;;) {
		while (r->off < r->len) {
			size_t used = 0;
			struct dob_codec_error e = {0};
			int rc = dob_decoder_feed(&r->dec, r->buf + r->off, r->len - r->off, &used,
						  out, &e);

			cr_assert(rc >= 0, "the broker sent a bad frame: %s", e.reason);
			r->off += used;
			if (rc > 0)
				return 0;
		}
		r->off = r->len = 0;

		int64_t left = end - hp_now_ms();
		struct pollfd p = {.fd = r->fd, .events = POLLIN};

		if (left <= 0)
			return -DOB_ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t n = recv(r->fd, r->buf, sizeof r->buf, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -DOB_ECLOSED;
		r->len = (size_t)n;
	}
}

int hr_until(struct hr_conn *r, enum dob_msg_type t, struct dob_msg *out, int timeout_ms)
{
	int64_t end = hp_now_ms() + timeout_ms;

	for (;;) {
		int64_t left = end - hp_now_ms();
		int rc = hr_next(r, out, left > 0 ? (int)left : 0);

		if (rc < 0 || out->type == t)
			return rc;
		dob_msg_clear(out);
	}
}

void hc_wait_subscribers(struct dobc *mon, uint32_t want)
{
	int64_t end = hp_now_ms() + 60000;
	uint32_t n = 0;

	while (hp_now_ms() < end) {
		struct dob_stats st = hc_stats(mon);

		n = st.subscribers;
		dobc_stats_clear(&st);
		if (n == want)
			return;
		usleep(10000); /* polling interval, not a barrier */
	}
	cr_assert_fail("the broker counts %u subscribers, want %u", n, want);
}
