/*
 * broker/backend/sim_action.c - what an action does to a simulated job, as
 * DO does it: Cancel, Suspend, Resume (a new attempt), Complete (the files
 * that finished are written to their local paths; BG_S_PARTIAL_COMPLETE
 * when some did not), and a file added to a job. Every action on a final
 * job is refused with DO_E_INVALID_STATE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/err.h"
#include "platform.h"
#include "sim_int.h"

#define HR_PATH_NOT_FOUND 0x80070003u
#define HR_FILE_NOT_FOUND 0x80070002u
#define HR_DISK_FULL 0x80070070u
/* ------------------------------------------------------------ complete */

static uint32_t hr_of(int err)
{
	switch (err) {
	case -DOB_ENOTFOUND: return HR_PATH_NOT_FOUND;
	case -DOB_EACCES: return DOB_E_ACCESSDENIED;
	case -DOB_ENOSPC: return HR_DISK_FULL;
	case -DOB_ENOMEM: return 0x8007000Eu;
	default: return DOB_E_FAIL;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The local path of a file:// URL (percent-decoded; "file:///C:/x" gives
 * "C:/x"), or NULL when memory runs out. */
static char *file_url_path(const char *url)
{
	const char *p;
	char *out, *o;

	p = url + 7;
	if (!strncmp(p, "localhost/", 10))
		p += 9;
	if (p[0] == '/' && p[1] && p[2] == ':')
		p++; /* a drive letter */
	out = o = dob_malloc(strlen(p) + 1);
	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			*o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static int remove_if_present(const char *path)
{
	int rc = plat_file_remove(path);

	return rc == -DOB_ENOTFOUND ? 0 : rc;
}

/* Writes buf to path through a temporary file renamed over it, so the file
 * appears whole or not at all. */
int sim_write_whole(const char *path, const void *buf, size_t n)
{
	size_t len = strlen(path) + sizeof(".sim-tmp");
	struct plat_file *f = NULL;
	char *tmp = dob_malloc(len);
	int rc;

	if (!tmp)
		return -DOB_ENOMEM;
	snprintf(tmp, len, "%s.sim-tmp", path);
	rc = remove_if_present(tmp);
	if (rc == 0)
		rc = plat_file_open_append(tmp, &f);
	if (rc == 0) {
		rc = plat_file_write(f, buf, n, false);
		plat_file_close(f);
		if (rc == 0)
			rc = plat_file_replace(tmp, path);
		if (rc < 0)
			plat_file_remove(tmp);
	}
	dob_free(tmp);
	return rc;
}

/* Writes what Complete writes for file f (enum scn_writes). Returns 0 or
 * the HRESULT of the failure, with msg saying what failed. */
static uint32_t write_content(struct sim *s, const struct sim_file *f, char *msg, size_t len)
{
	char *src = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc;

	if (s->scn->writes == SCN_WRITES_NOTHING)
		return 0;
	if (s->scn->writes == SCN_WRITES_SOURCE && !strncmp(f->url, "file://", 7)) {
		src = file_url_path(f->url);
		if (!src)
			return hr_of(-DOB_ENOMEM);
		rc = plat_file_read_all(src, &buf, &n);
		if (rc < 0) {
			snprintf(msg, len, "complete: cannot read the source %s: %s", src,
				 dob_strerror(rc));
			dob_free(src);
			return rc == -DOB_ENOTFOUND ? HR_FILE_NOT_FOUND : hr_of(rc);
		}
		dob_free(src);
	} else {
		n = strlen(f->url) + 1;
		buf = dob_malloc(n);
		if (!buf)
			return hr_of(-DOB_ENOMEM);
		memcpy(buf, f->url, n - 1);
		buf[n - 1] = '\n';
	}
	rc = sim_write_whole(f->local, buf, n);
	dob_free(buf);
	if (rc < 0) {
		snprintf(msg, len, "complete: cannot write %s: %s", f->local, dob_strerror(rc));
		return hr_of(rc);
	}
	return 0;
}

/* ------------------------------------------------------------ actions */

static uint32_t refuse_final(const struct sim_job *j, enum dob_action a, char *msg, size_t len)
{
	snprintf(msg, len, "%s refused: the job is %s (final)", dob_action_name(a),
		 dob_state_name(j->state));
	return DOB_DO_E_INVALID_STATE;
}

static uint32_t act_complete(struct sim *s, struct sim_job *j, char *msg, size_t len)
{
	bool partial = false;

	if (j->type != DOB_JOB_DOWNLOAD && j->state != DOB_STATE_TRANSFERRED) {
		snprintf(msg, len, "complete is not allowed on an upload job until it is "
			 "TRANSFERRED (an upload can never be partially completed)");
		return DOB_DO_E_INVALID_STATE;
	}
	sim_settle(s, j);
	if (j->type == DOB_JOB_DOWNLOAD) {
		for (size_t i = 0; i < j->n_files; i++) {
			struct sim_file *f = &j->files[i];
			uint32_t hr;

			if (f->done != f->size) {
				partial = true; /* unfinished files are dropped */
				continue;
			}
			hr = write_content(s, f, msg, len);
			if (hr) /* the job stays as it is, as BITS does when renames fail */
				return hr;
			f->completed = true;
		}
	}
	sim_set_state(s, j, DOB_STATE_ACKNOWLEDGED);
	if (partial) {
		snprintf(msg, len, "partial complete: unfinished files were dropped");
		return DOB_BG_S_PARTIAL_COMPLETE;
	}
	return DOB_S_OK;
}

uint32_t sim_do_action(struct sim *s, struct sim_job *j, enum dob_action a, char *msg,
		       size_t len)
{
	if (a < DOB_ACTION_CANCEL || a > DOB_ACTION_MAX) {
		snprintf(msg, len, "unknown action %d", (int)a);
		return DOB_E_INVALIDARG;
	}
	if (is_final(j->state))
		return refuse_final(j, a, msg, len);
	switch (a) {
	case DOB_ACTION_CANCEL:
		sim_set_state(s, j, DOB_STATE_CANCELLED);
		return DOB_S_OK;
	case DOB_ACTION_SUSPEND:
		if (j->state != DOB_STATE_SUSPENDED)
			sim_set_state(s, j, DOB_STATE_SUSPENDED);
		return DOB_S_OK;
	case DOB_ACTION_COMPLETE:
		return act_complete(s, j, msg, len);
	default: /* RESUME, RESUME_AFTER_DELAY (the broker did the waiting) */
		if (j->n_files == 0) {
			snprintf(msg, len, "resume refused: the job has no file");
			return DOB_DO_E_JOB_EMPTY;
		}
		if (j->state == DOB_STATE_SUSPENDED || j->state == DOB_STATE_ERROR ||
		    j->state == DOB_STATE_TRANSIENT_ERROR)
			sim_begin_attempt(s, j);
		return DOB_S_OK; /* running or transferred: nothing to do */
	}
}

/* A file added to a job that exists (the emulator's AddFileWithRanges).
 * The job's outcome is chosen again from all its URLs. */
uint32_t sim_do_add_file(struct sim *s, struct sim_job *j, struct sim_op *op, char *msg,
			 size_t len)
{
	struct sim_file *files;
	const char **urls;

	if (is_final(j->state)) {
		snprintf(msg, len, "add file refused: the job is %s (final)", dob_state_name(j->state));
		return DOB_DO_E_INVALID_STATE;
	}
	if (j->n_files >= DOB_MAX_FILES) {
		snprintf(msg, len, "add file refused: the job has %u files already",
			 (unsigned)j->n_files);
		return DOB_E_INVALIDARG;
	}
	files = dob_realloc(j->files, (j->n_files + 1) * sizeof(*files));
	if (!files)
		return hr_of(-DOB_ENOMEM);
	j->files = files;
	urls = dob_calloc(j->n_files + 1, sizeof(*urls));
	if (!urls)
		return hr_of(-DOB_ENOMEM);
	sim_settle(s, j);
	memset(&files[j->n_files], 0, sizeof(*files));
	files[j->n_files].url = op->url;
	files[j->n_files].local = op->local;
	op->url = op->local = NULL;
	j->n_files++;
	for (size_t i = 0; i < j->n_files; i++)
		urls[i] = j->files[i].url;
	j->outcome = scenario_outcome_for(s->scn, urls, j->n_files);
	dob_free(urls);
	j->files[j->n_files - 1].size = op->size ? op->size : j->outcome->size;
	j->modified_us = wall_us(s);
	if (s->scn->modifications)
		sim_note(s, j, BACKEND_EV_MODIFIED);
	sim_persist(s, j);
	return DOB_S_OK;
}
