/*
 * broker/dobrokerd.c - the broker program (portable): settings from flags
 * and an optional config file, the backend, the platform loop, and a clean
 * stop on SIGINT/SIGTERM (console control on Windows).
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

static int run(int argc, char **argv)
{
	struct broker_config cfg;
	enum config_action action;
	struct plat_handlers h;
	struct plat_loop *loop = NULL;
	struct backend *be = NULL;
	struct broker *b = NULL;
	const char *backend;
	char err[1024] = "";
	int rc;

	config_defaults(&cfg);
	rc = config_parse_args(&cfg, argc, argv, &action, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "dobrokerd: %s\n", err);
		config_clear(&cfg);
		return 2;
	}
	if (action == CONFIG_HELP) {
		config_print_help(stdout, "dobrokerd");
		config_clear(&cfg);
		return 0;
	}
	if (action == CONFIG_VERSION) {
		printf("%s\n", BROKER_VERSION);
		config_clear(&cfg);
		return 0;
	}
	dob_log_set_level((enum dob_log_level)cfg.log_level);
	dob_log_set_clock(plat_wall_us);
	backend = cfg.backend ? cfg.backend : plat_default_backend();
	if (strcmp(backend, "sim") == 0)
		rc = sim_backend_new(&be, cfg.scenario, err, sizeof(err));
	else
		rc = plat_backend_new(&be, backend, err, sizeof(err));
	if (rc) {
		log_error("backend %s: %s", backend, err[0] ? err : dob_strerror(rc));
		config_clear(&cfg);
		return 1;
	}
	rc = broker_new(&b, &cfg, be); /* takes be */
	config_clear(&cfg);
	if (rc) {
		log_error("cannot create the broker: %s", dob_strerror(rc));
		return 1;
	}
	broker_handlers(b, &h);
	rc = plat_loop_new(&loop, &h);
	if (rc) {
		log_error("cannot create the event loop: %s", dob_strerror(rc));
		broker_free(b);
		return 1;
	}
	rc = plat_handle_signals(loop);
	if (rc)
		log_warn("signals: %s; stop the broker with a kill", dob_strerror(rc));
	rc = broker_start(b, loop, err, sizeof(err));
	if (rc) {
		log_error("cannot start: %s", err[0] ? err : dob_strerror(rc));
		broker_shutdown(b);
		plat_loop_free(loop);
		broker_free(b);
		return 1;
	}
	rc = plat_loop_run(loop);
	if (rc)
		log_error("event loop failed: %s", dob_strerror(rc));
	log_info("stopping");
	broker_shutdown(b);
	plat_loop_free(loop);
	broker_free(b);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	return plat_main(argc, argv, run);
}
