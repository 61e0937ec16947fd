/*
 * bench/native/broker.c - the native benchmark's clocks and its dobrokerd:
 * start (and restart) it on a private directory, read its RSS, CPU and
 * journal size, submit jobs to it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "dob/codec.h"
#include "native.h"

/* ---------------------------------------------------------------- clocks */

int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sleep_until_wall(int64_t t_ns)
{
	struct timespec ts = { (time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000) };

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------------- the broker */

char bindir[4096];

void find_bindir(void)
{
	char self[4000];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n <= 0) {
		fprintf(stderr, "native_bench: readlink /proc/self/exe: %s\n", strerror(errno));
		exit(2);
	}
	self[n] = '\0';
	*strrchr(self, '/') = '\0'; /* build/native/bench -> build/native/bin */
	snprintf(bindir, sizeof bindir, "%s/../bin", self);
}


static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

const char *log_tail(const struct bk *b)
{
	static char buf[2048];
	FILE *f = fopen(b->log, "r");
	long sz;
	size_t n;

	buf[0] = '\0';
	if (!f)
		return buf;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Starts dobrokerd with the sim playing scenario (NULL: none) and extra
 * flags (NULL-terminated). Returns 0 when it answers. */
int bk_start(struct bk *b, const char *scenario, size_t scenario_len,
		    const char *const *extra)
{
	const char *tmp = getenv("TMPDIR");
	char **argv = b->argv, *a_ep = b->a_ep, *a_st = b->a_st, *a_sc = b->a_sc, *prog = b->prog;
	int n = 0;

	memset(b, 0, sizeof *b);
	snprintf(b->dir, sizeof b->dir, "%s/dob-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(b->dir)) {
		bad("mkdtemp %s: %s", b->dir, strerror(errno));
		return -1;
	}
	snprintf(b->sock, sizeof b->sock, "%s/broker.sock", b->dir);
	snprintf(b->state, sizeof b->state, "%s/state", b->dir);
	snprintf(b->scen, sizeof b->scen, "%s/scenario.txt", b->dir);
	snprintf(b->log, sizeof b->log, "%s/broker.log", b->dir);
	snprintf(b->files, sizeof b->files, "%s/files", b->dir);
	mkdir(b->files, 0700);
	/* Experiments: DOB_BENCH_BROKER=PATH runs another build (A/B). */
	if (getenv("DOB_BENCH_BROKER") && *getenv("DOB_BENCH_BROKER"))
		snprintf(prog, sizeof b->prog, "%s", getenv("DOB_BENCH_BROKER"));
	else
		snprintf(prog, sizeof b->prog, "%s/dobrokerd", bindir);
	/* Experiments: DOB_BENCH_WRAP="valgrind --tool=callgrind ..." runs the
	 * broker under a tool (then timings mean nothing). */
	static char wrap[1024];
	const char *w = getenv("DOB_BENCH_WRAP");
	if (w && *w) {
		snprintf(wrap, sizeof wrap, "%s", w);
		for (char *tok = strtok(wrap, " "); tok && n < 16; tok = strtok(NULL, " "))
			argv[n++] = tok;
	}
	argv[n++] = prog;
	snprintf(a_ep, sizeof b->a_ep, "--endpoint=%s", b->sock);
	snprintf(a_st, sizeof b->a_st, "--state-dir=%s", b->state);
	argv[n++] = a_ep;
	argv[n++] = a_st;
	argv[n++] = "--backend=sim";
	/* One user plays every subscriber: lift the per-identity limits. */
	argv[n++] = "--max-conns=4096";
	argv[n++] = "--max-jobs=100000";
	if (scenario) {
		if (bench_write_file(b->scen, scenario, scenario_len) != 0) {
			bad("cannot write %s", b->scen);
			return -1;
		}
		snprintf(a_sc, sizeof b->a_sc, "--scenario=%s", b->scen);
		argv[n++] = a_sc;
	}
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = (char *)extra[i];
	/* Experiments: DOB_BENCH_BROKER_ARGS="--log-level=warn ..." */
	static char env_args[1024];
	const char *ea = getenv("DOB_BENCH_BROKER_ARGS");
	if (ea && *ea) {
		snprintf(env_args, sizeof env_args, "%s", ea);
		for (char *tok = strtok(env_args, " "); tok && n < 62; tok = strtok(NULL, " "))
			argv[n++] = tok;
	}
	argv[n] = NULL;
	return bk_spawn(b);
}

/* Starts (again) the dobrokerd of b's argv; 0 when it answers. */
int bk_spawn(struct bk *b)
{
	char **argv = b->argv;
	pid_t parent = getpid();
	b->pid = fork();
	if (b->pid < 0) {
		bad("fork: %s", strerror(errno));
		return -1;
	}
	if (b->pid == 0) {
		int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 30000; i++) {
		int st;
		struct dobc *c;

		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			b->pid = 0;
			bad("dobrokerd exited at start (status %d):\n%s", st, log_tail(b));
			return -1;
		}
		if ((c = bench_connect(b->sock, "probe", DOB_ROLE_OBSERVER,
				     1u << DOB_EVENT_RESOLUTION, 200)) != NULL) {
			dobc_close(c);
			return 0;
		}
		sleep_ms(1);
	}
	bad("dobrokerd did not answer on %s:\n%s", b->sock, log_tail(b));
	return -1;
}

void bk_stop(struct bk *b)
{
	if (b->pid > 0) {
		int st;

		kill(b->pid, SIGTERM);
		for (int i = 0; i < 300; i++) {
			if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
				b->pid = 0;
				break;
			}
			sleep_ms(10);
		}
		if (b->pid > 0) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &st, 0);
			b->pid = 0;
		}
	}
	if (b->dir[0])
		nftw(b->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	b->dir[0] = '\0';
}

/* VmRSS of pid, bytes. */
int64_t rss_of(pid_t pid)
{
	char path[64], line[256];
	int64_t kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %lld", (long long *)&kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* utime + stime of pid, nanoseconds. */
int64_t cpu_of(pid_t pid)
{
	char path[64], buf[2048];
	unsigned long long run_ns;
	FILE *sf;

	/* schedstat: time on the CPU in ns (stat's ticks are 10 ms). */
	snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
	if ((sf = fopen(path, "r"))) {
		int k = fscanf(sf, "%llu", &run_ns);

		fclose(sf);
		if (k == 1)
			return (int64_t)run_ns;
	}
	unsigned long long ut = 0, stt = 0;
	FILE *f;
	size_t n;
	char *p;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &stt) != 2)
		return -1;
	return (int64_t)((ut + stt) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

int64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Bytes of every file in the state directory (the journal). */
int64_t journal_bytes(const struct bk *b)
{
	DIR *d = opendir(b->state);
	struct dirent *e;
	int64_t sum = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[600];
		struct stat st;

		snprintf(p, sizeof p, "%s/%s", b->state, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			sum += st.st_size;
	}
	closedir(d);
	return sum;
}

/* Profiling (development): with DOB_BENCH_PERF=DIR in the environment, a
 * measured section of the broker is sampled by `perf record -e cpu-clock
 * -g` into DIR/NAME.data (perf report -i ... shows it). */
pid_t prof_start(const char *name, pid_t target)
{
	const char *dir = getenv("DOB_BENCH_PERF");
	char out[600], pid[32];
	pid_t p;

	if (!dir || !*dir)
		return 0;
	snprintf(out, sizeof out, "%s/%s.data", dir, name);
	snprintf(pid, sizeof pid, "%d", (int)target);
	p = fork();
	if (p == 0) {
		char *argv[] = { "perf", "record", "-q", "-e", "cpu-clock", "-F", "1999",
				 "--call-graph", "dwarf,8192",
				 "-p", pid, "-o", out, NULL };
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	sleep_ms(300); /* perf attaches */
	return p;
}

void prof_stop(pid_t p)
{
	if (p <= 0)
		return;
	kill(p, SIGINT);
	waitpid(p, NULL, 0);
}

/* Submits job i of a kind ("lat", "hang", ...). Returns 0 when accepted. */
int submit(struct dobc *c, const struct bk *b, const char *kind, int i)
{
	char url[128], local[400], name[64], why[256];
	int err;

	snprintf(url, sizeof url, "https://bench.invalid/%s/%d", kind, i);
	snprintf(local, sizeof local, "%s/%s-%d", b->files, kind, i);
	snprintf(name, sizeof name, "bench %s %d", kind, i);
	err = bench_submit(c, url, local, name, 10000, why, sizeof why);
	if (err)
		bad("submit %s: %s", name, why);
	return err;
}

int submit_many(const struct bk *b, const char *kind, int n)
{
	struct dobc *c = bench_connect(b->sock, "bench-submit", DOB_ROLE_CONTROLLER,
				     1u << DOB_EVENT_RESOLUTION, 5000);
	int rc = 0;

	if (!c) {
		bad("cannot connect to submit jobs");
		return -1;
	}
	for (int i = 1; i <= n && rc == 0; i++)
		rc = submit(c, b, kind, i);
	dobc_close(c);
	return rc;
}

int get_stats(const struct bk *b, struct dob_stats *st)
{
	struct dobc *c = bench_connect(b->sock, "bench-stats", DOB_ROLE_OBSERVER,
				     1u << DOB_EVENT_RESOLUTION, 5000);
	int rc;

	memset(st, 0, sizeof *st);
	if (!c)
		return -1;
	rc = dobc_stats(c, st, 5000);
	dobc_close(c);
	return rc;
}

int64_t settled_rss(pid_t pid)
{
	sleep_ms(300);
	return rss_of(pid);
}

int wait_pending(const struct bk *b, uint32_t want, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t += 50) {
		struct dob_stats st;

		if (get_stats(b, &st) == 0) {
			uint32_t p = st.pending_episodes;

			dobc_stats_clear(&st);
			if (p >= want)
				return 0;
		}
		sleep_ms(50);
	}
	return -1;
}
