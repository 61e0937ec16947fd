/*
 * broker/dobrokerd.c - the broker program (portable): settings from flags
 * and an optional config file, the log (stderr or a rotated file),
 * operator events, the backend, the platform loop, a reload on SIGHUP
 * (SERVICE_CONTROL_PARAMCHANGE for the Windows service) and a clean stop on
 * SIGINT/SIGTERM (console control and SERVICE_CONTROL_STOP/SHUTDOWN on
 * Windows).
 *
 * Exit status: 0 after a clean stop, 1 when the broker could not start (the
 * reason is logged), 2 for a bad option or config file.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "broker.h"
#include "config.h"
#include "dob/err.h"
#include "log.h"
#include "platform.h"
#include "reload.h"

static void event_text(enum dob_log_event id, const char *text)
{
	struct dob_event_info ev = { .text = text };

	dob_log_event(id, &ev);
}

static int start_failed(const char *fmt, const char *what, const char *why)
{
	char text[1200];

	snprintf(text, sizeof(text), fmt, what, why);
	log_error("%s", text);
	event_text(DOB_EVENT_START_FAILED, text);
	return 1;
}

/* --mode service without --state-dir: the machine service's directory
 * (plat_service_state_dir: %ProgramData%\dobroker on Windows, created and
 * secured), so the per-user default is never the service's. */
static int service_state_dir(struct program_config *prog, char *err, size_t len)
{
	char dir[1024];
	int rc;

	if (!prog->broker.service_mode || prog->broker.state_dir)
		return 0;
	rc = plat_service_state_dir(dir, sizeof(dir), err, len);
	if (rc == 0)
		rc = config_set(&prog->broker, "state-dir", dir, err, len);
	return rc;
}

/* SIGHUP: the same command line, the config file read again. */
static void reload(struct broker *b, struct program_config *prog, int argc, char **argv)
{
	struct program_config next;
	enum config_action action;
	char err[1024] = "";
	int rc;

	config_prog_defaults(&next);
	rc = config_parse_args(&next, argc, argv, &action, err, sizeof(err));
	if (rc == 0)
		rc = service_state_dir(&next, err, sizeof(err));
	if (rc) {
		struct dob_event_info ev = { .text = err };

		log_warn("reload: %s; the running settings are kept", err);
		dob_log_event(DOB_EVENT_RELOAD_FAILED, &ev);
	} else {
		broker_reload(b, prog, &next, err, sizeof(err));
	}
	config_prog_clear(&next);
}

static int run(int argc, char **argv)
{
	struct program_config prog;
	enum config_action action;
	struct plat_handlers h;
	struct plat_loop *loop = NULL;
	struct backend *be = NULL;
	struct broker *b = NULL;
	const char *backend;
	char err[1024] = "", text[1200];
	int rc;

	config_prog_defaults(&prog);
	rc = config_parse_args(&prog, argc, argv, &action, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dobrokerd: %s\n", err);
		config_prog_clear(&prog);
		return 2;
	}
	if (action == CONFIG_HELP) {
		config_print_help(stdout, "dobrokerd");
		config_prog_clear(&prog);
		return 0;
	}
	if (action == CONFIG_VERSION) {
		printf("%s\n", BROKER_VERSION);
		config_prog_clear(&prog);
		return 0;
	}
	dob_log_set_level((enum dob_log_level)prog.broker.log_level);
	dob_log_set_event_level((enum dob_event_level)prog.eventlog);
	dob_log_set_clock(plat_wall_us);
	if (prog.log_file) {
		rc = dob_log_open_file(prog.log_file, prog.log_max_size, prog.log_max_files, err,
				       sizeof(err));
		if (rc) {
			fprintf(stderr, "dobrokerd: %s\n", err);
			config_prog_clear(&prog);
			return 1;
		}
	}
	if (prog.eventlog != DOB_EVENTS_OFF && plat_events_open(err, sizeof(err)))
		log_info("event log: %s; operator events are log lines only", err);
	rc = service_state_dir(&prog, err, sizeof(err));
	if (rc) {
		rc = start_failed("%s%s", "", err[0] ? err : dob_strerror(rc));
		goto out;
	}
	backend = prog.broker.backend ? prog.broker.backend : plat_default_backend();
	if (strcmp(backend, "sim") == 0)
		rc = sim_backend_new(&be, prog.broker.scenario, err, sizeof(err));
	else
		rc = plat_backend_new(&be, backend, err, sizeof(err));
	if (rc) {
		rc = start_failed("backend %s: %s", backend, err[0] ? err : dob_strerror(rc));
		goto out;
	}
	rc = broker_new(&b, &prog.broker, be); /* takes be */
	if (rc) {
		rc = start_failed("cannot create the broker%s: %s", "", dob_strerror(rc));
		goto out;
	}
	broker_handlers(b, &h);
	rc = plat_loop_new(&loop, &h);
	if (rc) {
		rc = start_failed("cannot create the event loop%s: %s", "", dob_strerror(rc));
		goto out;
	}
	rc = plat_handle_signals(loop);
	if (rc)
		log_warn("signals: %s; stop the broker with a kill", dob_strerror(rc));
	rc = broker_start(b, loop, err, sizeof(err));
	if (rc) {
		rc = start_failed("cannot start%s: %s", "", err[0] ? err : dob_strerror(rc));
		broker_shutdown(b);
		goto out;
	}
	snprintf(text, sizeof(text), "endpoint %s, backend %s",
		 prog.broker.endpoint ? prog.broker.endpoint : plat_default_endpoint(), backend);
	event_text(DOB_EVENT_STARTED, text);
	for (;;) {
		rc = plat_loop_run(loop);
		if (rc || !plat_take_reload())
			break;
		reload(b, &prog, argc, argv);
	}
	if (rc) {
		snprintf(text, sizeof(text), "event loop failed: %s", dob_strerror(rc));
		log_error("%s", text);
		event_text(DOB_EVENT_FAILED, text);
	}
	log_info("stopping");
	broker_shutdown(b);
	if (rc == 0)
		event_text(DOB_EVENT_STOPPED, "clean stop");
	rc = rc ? 1 : 0;
out:
	plat_loop_free(loop);
	broker_free(b);
	plat_events_close();
	dob_log_close_file();
	config_prog_clear(&prog);
	return rc;
}

int main(int argc, char **argv)
{
	return plat_main(argc, argv, run);
}
