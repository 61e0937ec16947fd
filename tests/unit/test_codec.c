/*
 * test_codec.c - dob_decode/dob_encode, validation and journal records.
 *
 * Round trips compare with msgcmp (written by hand, independent of the
 * codec's tables); bad input is crafted byte by byte with tests/support/wire.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dob/alloc.h"
#include "dob/codec.h"
#include "dob/err.h"
#include "msgcmp.h"
#include "samples.h"
#include "wire.h"

TestSuite(codec, .timeout = 60);

static const struct dob_msg zero_msg;

/* ------------------------------------------------------------ helpers */

static void hello_body(struct wire *w, const char *client_name)
{
	wire_hello(w, client_name, strlen(client_name));
}

/* Decoding env must fail with exactly this code, perr and reason. */
static void expect_bad(const struct wire *env, int code, enum dob_perr perr, const char *reason)
{
	struct dob_codec_error err = { 0 };
	struct dob_msg m;
	int64_t live = dob_alloc_live();
	int rc = dob_decode(env->b, env->n, &m, &err);

	cr_assert_eq(rc, code, "rc %d (%s), want %d; reason: %s", rc, dob_strerror(rc), code,
		     err.reason);
	cr_assert_eq(err.code, code);
	cr_assert_eq(err.perr, perr, "perr %d, want %d (%s)", err.perr, perr, err.reason);
	cr_assert_str_eq(err.reason, reason);
	cr_assert(memcmp(&m, &zero_msg, sizeof m) == 0, "out is zeroed on failure");
	cr_assert_eq(dob_alloc_live(), live, "no leak");
}

static void expect_good(const struct wire *env, struct dob_msg *m)
{
	struct dob_codec_error err = { 0 };
	int rc = dob_decode(env->b, env->n, m, &err);

	cr_assert_eq(rc, 0, "decode: %s", err.reason);
}

/* Encoding m must fail with -DOB_EFIELD and this reason. */
static void expect_invalid(const struct dob_msg *m, const char *reason)
{
	struct dob_codec_error err = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = dob_encode(m, DOB_MAX_FRAME_CEILING, &buf, &len, &err);

	cr_assert_eq(rc, -DOB_EFIELD, "rc %d; reason %s", rc, err.reason);
	cr_assert_eq(err.perr, DOB_PERR_INVALID_FIELD);
	cr_assert_str_eq(err.reason, reason);
	cr_assert_null(buf);
	cr_assert_eq(dob_validate(m, &err), -DOB_EFIELD);
	cr_assert_str_eq(err.reason, reason);
}

static void expect_valid(const struct dob_msg *m)
{
	struct dob_codec_error err = { 0 };

	cr_assert_eq(dob_validate(m, &err), 0, "%s", err.reason);
}

/* Encodes m, checks the prefix, decodes the body into out. */
static void round_trip(const struct dob_msg *m, struct dob_msg *out)
{
	struct dob_codec_error err = { 0 };
	uint8_t *buf;
	size_t len;
	char why[256];

	cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_CEILING, &buf, &len, &err), 0, "%s: %s",
		     dob_msg_type_name(m->type), err.reason);
	cr_assert_eq(dob_get_u32le(buf), len - DOB_FRAME_HDR);
	cr_assert_eq(dob_frame_size(m), (int64_t)len);
	cr_assert_eq(dob_decode(buf + DOB_FRAME_HDR, len - DOB_FRAME_HDR, out, &err), 0,
		     "%s: %s", dob_msg_type_name(m->type), err.reason);
	cr_assert(msgcmp_msg(m, out, why, sizeof why), "%s", why);
	dob_free(buf);
}

/* ------------------------------------------------------------ good frames */

Test(codec, tables_agree_with_the_schema)
{
	struct dob_codec_error err = { 0 };

	cr_assert_eq(dob_codec_selfcheck(&err), 0, "%s", err.reason);
}

Test(codec, round_trips_every_message_type_field_by_field)
{
	int64_t live = dob_alloc_live();

	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg m, back;

		sample_msg(sample_types[i], &m);
		expect_valid(&m);
		round_trip(&m, &back);
		dob_msg_clear(&m);
		dob_msg_clear(&back);
	}
	cr_assert_eq(dob_alloc_live(), live);
}

Test(codec, round_trips_messages_with_every_field_at_its_default)
{
	/* The smallest valid message of each type: absent fields stay absent. */
	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg m = { .type = sample_types[i] }, back;

		sample_msg(sample_types[i], &back); /* for the correlation id only */
		m.correlation_id = back.correlation_id;
		dob_msg_clear(&back);
		switch (m.type) {
		case DOB_MSG_HELLO:
			m.u.hello = (struct dob_hello){ 1, 1, "x", DOB_ROLE_OBSERVER, { 0 } };
			break;
		case DOB_MSG_WELCOME:
			m.u.welcome.version = 1;
			break;
		case DOB_MSG_ACT:
			m.u.act.action = DOB_ACTION_CANCEL;
			break;
		case DOB_MSG_SUBMIT_JOB: {
			static struct dob_file_spec f = { "u", "p" };

			m.u.submit_job = (struct dob_submit_job){ .display_name = "d",
								  .n_files = 1, .files = &f };
			break;
		}
		default:
			break;
		}
		round_trip(&m, &back);
		dob_msg_clear(&back);
	}
}

Test(codec, round_trips_every_journal_record)
{
	int64_t live = dob_alloc_live();

	for (size_t i = 0; i < sample_n_jrec_types; i++) {
		struct dob_codec_error err = { 0 };
		struct dob_jrec r, back;
		uint8_t *buf;
		size_t len;
		char why[256];

		sample_jrec(sample_jrec_types[i], &r);
		cr_assert_eq(dob_jrec_encode(&r, &buf, &len, &err), 0, "%s", err.reason);
		cr_assert_eq(dob_jrec_decode(buf, len, &back, &err), 0, "%s", err.reason);
		cr_assert(msgcmp_jrec(&r, &back, why, sizeof why), "%s", why);
		dob_free(buf);
		dob_jrec_clear(&r);
		dob_jrec_clear(&back);
	}
	cr_assert_eq(dob_alloc_live(), live);
}

Test(codec, journal_record_without_body_is_refused)
{
	struct dob_codec_error err = { 0 };
	struct dob_jrec r = { 0 };
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 1;

	cr_assert_eq(dob_jrec_encode(&r, &buf, &len, &err), -DOB_EFIELD);
	cr_assert_null(buf);
	cr_assert_str_eq(err.reason, "record: no body");
	cr_assert_eq(dob_jrec_decode((const uint8_t *)"", 0, &r, &err), -DOB_EFIELD);
	cr_assert_str_eq(err.reason, "record: no body");
}

Test(codec, journal_record_with_short_guid_is_refused)
{
	struct dob_codec_error err = { 0 };
	struct wire body = { 0 }, rec = { 0 };
	struct dob_jrec r;

	wire_guid(&body, 1, 15);
	wire_msg(&rec, 4, &body);
	cr_assert_eq(dob_jrec_decode(rec.b, rec.n, &r, &err), -DOB_EFIELD);
	cr_assert_str_eq(err.reason, "job_removed.job_id: 15 bytes, want 16");
}

Test(codec, decodes_hand_encoded_act)
{
	struct wire body = { 0 }, env = { 0 };
	struct dob_msg m;
	struct dob_guid g;

	wire_guid(&body, 1, 16);
	wire_varint(&body, 2, 300);
	wire_varint(&body, 3, DOB_ACTION_RESUME_AFTER_DELAY);
	wire_varint(&body, 4, 1000);
	wire_envelope(&env, 7, 20, &body);
	expect_good(&env, &m);
	cr_assert_eq(m.type, DOB_MSG_ACT);
	cr_assert_eq(m.correlation_id, 7);
	for (int i = 0; i < 16; i++)
		g.b[i] = (uint8_t)(0x11 * (i + 1));
	cr_assert(memcmp(&m.u.act.job_id, &g, 16) == 0);
	cr_assert_eq(m.u.act.episode_id, 300);
	cr_assert_eq(m.u.act.action, DOB_ACTION_RESUME_AFTER_DELAY);
	cr_assert_eq(m.u.act.delay_ms, 1000);
	dob_msg_clear(&m);
}

Test(codec, encodes_ping_to_known_bytes)
{
	static const uint8_t want[] = {
		7, 0, 0, 0,             /* length */
		0x08, 0x01,             /* correlation_id = 1 */
		0xEA, 0x01, 0x02,       /* field 29 (ping), 2 bytes */
		0x08, 0x02,             /* nonce = 2 */
	};
	struct dob_msg m = { .correlation_id = 1, .type = DOB_MSG_PING, .u.ping.nonce = 2 };
	uint8_t buf[64];

	cr_assert_eq(dob_encode_into(&m, 1024, buf, sizeof buf, NULL), (int64_t)sizeof want);
	cr_assert(memcmp(buf, want, sizeof want) == 0);
}

Test(codec, guid_bytes_keep_the_windows_layout)
{
	/* {5B99FA76-721C-423C-ADAC-56D03C8A8007}: docs/protocol.md section 4. */
	static const uint8_t want[16] = { 0x76, 0xFA, 0x99, 0x5B, 0x1C, 0x72, 0x3C, 0x42,
					  0xAD, 0xAC, 0x56, 0xD0, 0x3C, 0x8A, 0x80, 0x07 };
	struct dob_msg m = { .correlation_id = 1, .type = DOB_MSG_ADOPT_JOB };
	uint8_t buf[64];
	int64_t n;

	cr_assert_eq(dob_guid_parse("{5B99FA76-721C-423C-ADAC-56D03C8A8007}", &m.u.adopt_job.job_id), 0);
	n = dob_encode_into(&m, 1024, buf, sizeof buf, NULL);
	cr_assert_gt(n, 0);
	/* prefix, 08 01, BA 01 <len> (field 23), 0A 10 (job_id, 16 bytes) */
	cr_assert_eq(buf[9], 0x0A);
	cr_assert_eq(buf[10], 16);
	cr_assert(memcmp(buf + 11, want, 16) == 0);
}

Test(codec, ignores_unknown_fields_at_every_depth)
{
	struct wire body = { 0 }, future = { 0 }, env = { 0 };
	struct dob_msg m;

	wire_act(&body, 16, DOB_ACTION_CANCEL);
	wire_varint(&body, 15, 99);               /* unknown varint in Act */
	wire_str(&future, 1, "from a newer peer");
	wire_msg(&body, 16, &future);             /* unknown message in Act */
	wire_fixed64(&body, 17, 0x1122334455667788ull);
	wire_fixed32(&body, 18, 5);
	wire_envelope(&env, 9, 20, &body);
	wire_varint(&env, 99, 1);                 /* unknown in the Envelope */
	wire_msg(&env, 1000, &future);
	expect_good(&env, &m);
	cr_assert_eq(m.type, DOB_MSG_ACT);
	cr_assert_eq(m.correlation_id, 9);
	cr_assert_eq(m.u.act.action, DOB_ACTION_CANCEL);
	cr_assert_eq(m.u.act.episode_id, 300);
	dob_msg_clear(&m);
}

/* Regression tests for undefined behaviour fuzz_frame found in the
 * protobuf-c runtime (scripts/patches/protobuf-c/0001-*.patch); the
 * sanitized build runs them against that runtime built with UBSan. */

Test(codec, protobuf_c_ub_unknown_field_with_a_large_number_is_ignored)
{
	struct wire body, env;
	struct dob_msg m;

	wire_act(&body, 16, DOB_ACTION_CANCEL);
	wire_varint(&body, (1u << 28) + 77, 1); /* a 5-byte tag, shifted by 25 */
	wire_envelope(&env, 8, 20, &body);
	wire_varint(&env, (1u << 29) - 1, 0x7F); /* the largest field number */
	expect_good(&env, &m);
	cr_assert_eq(m.u.act.action, DOB_ACTION_CANCEL);
	dob_msg_clear(&m);
}

Test(codec, protobuf_c_ub_empty_packed_field_is_no_entries)
{
	struct wire body, filter = { 0 }, env;
	struct dob_msg m;

	wire_bytes(&filter, 3, "", 0); /* kinds, packed, no entries */
	wire_hello(&body, "app", 3);
	wire_msg(&body, 5, &filter);
	wire_envelope(&env, 0, 2, &body);
	expect_good(&env, &m);
	cr_assert_eq(m.u.hello.filter.kind_mask, 0);
	dob_msg_clear(&m);
}

Test(codec, protobuf_c_ub_message_without_fields_decodes)
{
	struct wire body = { 0 }, env;
	struct dob_msg m;

	wire_envelope(&env, 3, DOB_MSG_LIST_JOBS, &body);
	expect_good(&env, &m);
	cr_assert_eq(m.type, DOB_MSG_LIST_JOBS);
	wire_varint(&body, 1, 1); /* a field ListJobs does not have */
	wire_envelope(&env, 3, DOB_MSG_GET_STATS, &body);
	expect_good(&env, &m);
	cr_assert_eq(m.type, DOB_MSG_GET_STATS);
}

/* ------------------------------------------------------------ bad frames */

Test(codec, rejects_envelope_without_body)
{
	struct wire env = { 0 }, future = { 0 };

	wire_varint(&env, 1, 5);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "envelope: no body");
	/* A message kind this version does not know is, to it, no body. */
	wire_varint(&future, 1, 1);
	env.n = 0;
	wire_msg(&env, 31, &future);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "envelope: no body");
	env.n = 0;
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "envelope: no body");
}

Test(codec, rejects_hello_bytes_where_an_envelope_is_expected)
{
	struct wire hello;

	hello_body(&hello, "app");
	/* Hello's field 2 (max_version, a varint) is the Envelope's hello
	 * (a message): the wire types disagree. */
	expect_bad(&hello, -DOB_EMALFORMED, DOB_PERR_MALFORMED,
		   "envelope: not a valid protobuf encoding of Envelope");
}

Test(codec, rejects_field_with_wrong_wire_type)
{
	struct wire body = { 0 }, job, env = { 0 };

	wire_act(&body, 16, DOB_ACTION_CANCEL);
	wire_str(&env, 1, "correlation id as a string");
	wire_msg(&env, 20, &body);
	expect_bad(&env, -DOB_EMALFORMED, DOB_PERR_MALFORMED,
		   "envelope: not a valid protobuf encoding of Envelope");
	/* A message field sent as a varint, two levels down. */
	job.n = 0;
	wire_guid(&job, 1, 16);
	wire_varint(&job, 5, 1); /* JobInfo.progress is a message */
	body.n = 0;
	wire_msg(&body, 1, &job);
	wire_envelope(&env, 0, 11, &body);
	expect_bad(&env, -DOB_EMALFORMED, DOB_PERR_MALFORMED,
		   "envelope: not a valid protobuf encoding of Envelope");
}

Test(codec, rejects_truncated_protobuf)
{
	struct wire body = { 0 }, env = { 0 };

	wire_act(&body, 16, DOB_ACTION_CANCEL);
	wire_envelope(&env, 3, 20, &body);
	for (size_t cut = 1; cut < env.n; cut++) {
		struct wire part = env;
		struct dob_codec_error err = { 0 };
		struct dob_msg m;
		int rc;

		part.n = cut;
		rc = dob_decode(part.b, part.n, &m, &err);
		/* A cut between two fields leaves valid protobuf missing fields. */
		cr_assert(rc == -DOB_EMALFORMED || rc == -DOB_EFIELD, "cut %zu: %d %s", cut, rc,
			  err.reason);
	}
}

Test(codec, rejects_enum_out_of_range_naming_the_field)
{
	struct wire body = { 0 }, job = { 0 }, env = { 0 };

	wire_act(&body, 16, 9);
	wire_envelope(&env, 3, 20, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "act.action: 9 is not a valid Action");

	wire_act(&body, 16, (uint64_t)-1); /* int32 -1: ten varint bytes */
	wire_envelope(&env, 3, 20, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "act.action: -1 is not a valid Action");

	wire_guid(&job, 1, 16);
	wire_varint(&job, 4, 42);
	body.n = 0;
	wire_msg(&body, 1, &job);
	wire_envelope(&env, 0, 10, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "job_error.job.state: 42 is not a valid JobState");
}

Test(codec, rejects_guids_of_15_and_17_bytes)
{
	struct wire body, env;

	wire_act(&body, 15, DOB_ACTION_CANCEL);
	wire_envelope(&env, 3, 20, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "act.job_id: 15 bytes, want 16");
	wire_act(&body, 17, DOB_ACTION_CANCEL);
	wire_envelope(&env, 3, 20, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "act.job_id: 17 bytes, want 16");
	wire_act(&body, 0, DOB_ACTION_CANCEL);
	wire_envelope(&env, 3, 20, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "act.job_id: 0 bytes, want 16");
}

Test(codec, rejects_missing_job_info_by_its_guid)
{
	struct wire body = { 0 }, env = { 0 };

	wire_varint(&body, 2, DOB_BACKEND_SIM); /* JobTransferred without job */
	wire_envelope(&env, 0, 11, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "job_transferred.job.job_id: 0 bytes, want 16");
}

Test(codec, rejects_filter_guid_naming_its_index)
{
	struct wire body, filter = { 0 }, env;

	wire_guid(&filter, 1, 16);
	wire_guid(&filter, 1, 15);
	hello_body(&body, "app");
	wire_msg(&body, 5, &filter);
	wire_envelope(&env, 0, 2, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "hello.filter.job_ids[1]: 15 bytes, want 16");
}

Test(codec, rejects_filter_kinds_out_of_range_or_too_many)
{
	struct wire body, filter = { 0 }, env;

	wire_varint(&filter, 3, DOB_EVENT_JOB_ERROR);
	wire_varint(&filter, 3, 7);
	hello_body(&body, "app");
	wire_msg(&body, 5, &filter);
	wire_envelope(&env, 0, 2, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "hello.filter.kinds[1]: 7 is not a valid EventKind");

	filter.n = 0;
	wire_varint(&filter, 3, 0);
	hello_body(&body, "app");
	wire_msg(&body, 5, &filter);
	wire_envelope(&env, 0, 2, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "hello.filter.kinds[0]: EVENT_KIND_UNSPECIFIED is not allowed in a filter");

	filter.n = 0;
	for (int i = 0; i < 9; i++)
		wire_varint(&filter, 3, DOB_EVENT_JOB_ERROR);
	hello_body(&body, "app");
	wire_msg(&body, 5, &filter);
	wire_envelope(&env, 0, 2, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "hello.filter.kinds: 9 entries, max 8");
}

Test(codec, accepts_packed_and_unpacked_filter_kinds)
{
	static const uint8_t packed[] = { DOB_EVENT_JOB_ERROR, DOB_EVENT_RESOLUTION };
	struct wire body, filter = { 0 }, env;
	struct dob_msg m;

	wire_bytes(&filter, 3, packed, sizeof packed);
	wire_varint(&filter, 3, DOB_EVENT_JOB_MODIFIED);
	hello_body(&body, "app");
	wire_msg(&body, 5, &filter);
	wire_envelope(&env, 0, 2, &body);
	expect_good(&env, &m);
	cr_assert_eq(m.u.hello.filter.kind_mask, 1u << 1 | 1u << 3 | 1u << 4);
	dob_msg_clear(&m);
}

Test(codec, rejects_too_many_entries_before_converting_them)
{
	struct wire body = { 0 }, job = { 0 }, fe = { 0 }, env;

	wire_guid(&job, 1, 16);
	wire_msg(&body, 1, &job);
	wire_str(&fe, 1, "GetState");
	for (int i = 0; i < DOB_MAX_FIELD_ERRORS + 1; i++)
		wire_msg(&body, 11, &fe);
	wire_envelope(&env, 0, 10, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "job_error.field_errors: 33 entries, max 32");
}

Test(codec, rejects_overlong_string_naming_field_and_index)
{
	static char url[2302];
	struct wire body = { 0 }, file = { 0 }, env;
	struct dob_file_spec files[3] = { { "u", "p" }, { "u", "p" }, { url, "p" } };
	struct dob_msg m = { .correlation_id = 4, .type = DOB_MSG_SUBMIT_JOB };

	memset(url, 'a', 2301);
	wire_str(&body, 1, "job");
	wire_str(&file, 1, "u");
	wire_str(&file, 2, "p");
	wire_msg(&body, 2, &file);
	wire_msg(&body, 2, &file);
	file.n = 0;
	wire_str(&file, 1, url);
	wire_str(&file, 2, "p");
	wire_msg(&body, 2, &file);
	wire_envelope(&env, 4, 22, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "submit_job.files[2].remote_url: 2301 characters, max 2200");

	m.u.submit_job = (struct dob_submit_job){ .display_name = "job", .n_files = 3,
						  .files = files };
	expect_invalid(&m, "submit_job.files[2].remote_url: 2301 characters, max 2200");
	url[2200] = '\0';
	expect_valid(&m);
}

Test(codec, counts_characters_as_utf16_code_units)
{
	char name[4 * 40 + 1] = "";
	struct dob_msg m = { .type = DOB_MSG_HELLO,
			     .u.hello = { 1, 1, name, DOB_ROLE_OBSERVER, { 0 } } };

	for (int i = 0; i < 32; i++)
		strcat(name, "\xF0\x9F\x93\xA6"); /* U+1F4E6: two UTF-16 units */
	expect_valid(&m);
	strcat(name, "\xF0\x9F\x93\xA6");
	expect_invalid(&m, "hello.client_name: 66 characters, max 64");
	name[0] = '\0';
	for (int i = 0; i < 64; i++)
		strcat(name, "\xC3\xA9"); /* U+00E9: one unit, two bytes */
	expect_valid(&m);
}

Test(codec, utf8_validity_follows_unicode)
{
	static const char *const good[] = {
		"", "plain", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
		"\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF",
	};
	static const char *const bad[] = {
		"\x80", "\xBF", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xE0\x9F\xBF",
		"\xED\xA0\x80", "\xED\xBF\xBF", "\xF0\x80\x80\xAF", "\xF0\x8F\xBF\xBF",
		"\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\xE2\x82", "\xC3",
		"\xE2\x28\xA1", "\xF0\x90\x28\xBC",
	};

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		cr_assert(dob_utf8_valid(good[i], strlen(good[i])), "good[%zu]", i);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		cr_assert(!dob_utf8_valid(bad[i], strlen(bad[i])), "bad[%zu]", i);
}

Test(codec, rejects_invalid_utf8_naming_field_and_byte)
{
	static const char *const bad[] = {
		"ab\xC0\xAF",      /* overlong '/' */
		"ab\xED\xA0\x80",  /* surrogate U+D800 */
		"ab\xF4\x90\x80\x80", /* above U+10FFFF */
		"ab\x80",          /* lone continuation byte */
	};
	struct wire body, env;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		hello_body(&body, bad[i]);
		wire_envelope(&env, 0, 2, &body);
		expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
			   "hello.client_name: not valid UTF-8 (byte 2)");
	}
	{
		struct dob_msg m = { .type = DOB_MSG_HELLO,
				     .u.hello = { 1, 1, "ab\xC0\xAF", DOB_ROLE_OBSERVER, { 0 } } };

		expect_invalid(&m, "hello.client_name: not valid UTF-8 (byte 2)");
	}
}

Test(codec, rejects_embedded_nul)
{
	struct wire body = { 0 }, env;

	wire_varint(&body, 1, 1);
	wire_varint(&body, 2, 1);
	wire_bytes(&body, 3, "ab\0cd", 5);
	wire_varint(&body, 4, DOB_ROLE_OBSERVER);
	wire_envelope(&env, 0, 2, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "hello.client_name: NUL byte at 2");
	body.n = 0;
	wire_varint(&body, 1, 1);
	wire_varint(&body, 2, 1);
	wire_bytes(&body, 3, "\0", 1);
	wire_varint(&body, 4, DOB_ROLE_OBSERVER);
	wire_envelope(&env, 0, 2, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD, "hello.client_name: NUL byte at 0");
}

Test(codec, rejects_request_without_correlation_id)
{
	struct wire body, env;

	wire_act(&body, 16, DOB_ACTION_CANCEL);
	wire_envelope(&env, 0, 20, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "envelope.correlation_id: missing (0) on act");
}

Test(codec, rejects_correlation_id_on_an_event)
{
	struct wire body = { 0 }, job = { 0 }, env;

	wire_guid(&job, 1, 16);
	wire_msg(&body, 1, &job);
	wire_envelope(&env, 5, 10, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "envelope.correlation_id: 5 on job_error, want 0");
}

Test(codec, enforces_the_correlation_id_rule_of_every_type)
{
	for (size_t i = 0; i < sample_n_types; i++) {
		enum dob_msg_type t = sample_types[i];
		const char *name = dob_msg_type_name(t);
		struct dob_msg m;
		char want[128];

		sample_msg(t, &m);
		if (t >= DOB_MSG_ACT) { /* requests and replies */
			m.correlation_id = 0;
			snprintf(want, sizeof want, "envelope.correlation_id: missing (0) on %s", name);
			expect_invalid(&m, want);
		} else if (t != DOB_MSG_PROTOCOL_ERROR) { /* handshake and events */
			m.correlation_id = 77;
			snprintf(want, sizeof want, "envelope.correlation_id: 77 on %s, want 0", name);
			expect_invalid(&m, want);
		}
		dob_msg_clear(&m);
	}
}

Test(codec, protocol_error_may_carry_a_correlation_id_or_not)
{
	struct dob_msg m = { .type = DOB_MSG_PROTOCOL_ERROR,
			     .u.protocol_error = { DOB_PERR_MALFORMED, "bad" } };

	expect_valid(&m);
	m.correlation_id = 12;
	expect_valid(&m);
}

Test(codec, validates_hello)
{
	struct dob_msg m = { .type = DOB_MSG_HELLO,
			     .u.hello = { 1, 2, "app", DOB_ROLE_CONTROLLER, { 0 } } };
	struct dob_hello *h = &m.u.hello;
	char long_name[66];

	expect_valid(&m);
	h->min_version = 0;
	expect_invalid(&m, "hello.min_version: 0, min 1");
	h->min_version = 3;
	expect_invalid(&m, "hello.max_version: 2 is below min_version 3");
	h->min_version = 1;
	h->role = DOB_ROLE_UNSPECIFIED;
	expect_invalid(&m, "hello.role: ROLE_UNSPECIFIED is not allowed");
	h->role = 3;
	expect_invalid(&m, "hello.role: 3 is not a valid Role");
	h->role = DOB_ROLE_OBSERVER;
	h->client_name = "";
	expect_invalid(&m, "hello.client_name: 0 characters, min 1");
	h->client_name = NULL;
	expect_invalid(&m, "hello.client_name: 0 characters, min 1");
	memset(long_name, 'n', 65);
	long_name[65] = '\0';
	h->client_name = long_name;
	expect_invalid(&m, "hello.client_name: 65 characters, max 64");
	h->client_name = "app";
	h->filter.kind_mask = 1u << 0;
	expect_invalid(&m, "hello.filter.kinds: EVENT_KIND_UNSPECIFIED is not allowed in a filter");
	h->filter.kind_mask = 1u << 5;
	expect_invalid(&m, "hello.filter.kinds: 5 is not a valid EventKind");
	h->filter.kind_mask = 0x1E;
	expect_valid(&m);
	h->filter.n_job_ids = DOB_MAX_FILTER_JOBS + 1;
	h->filter.job_ids = calloc(DOB_MAX_FILTER_JOBS + 1, sizeof(struct dob_guid));
	expect_invalid(&m, "hello.filter.job_ids: 65 entries, max 64");
	h->filter.n_job_ids = DOB_MAX_FILTER_JOBS;
	expect_valid(&m);
	free(h->filter.job_ids);
	h->filter.job_ids = NULL;
	expect_invalid(&m, "hello.filter.job_ids: 64 entries but no array");
}

Test(codec, validates_act_action_and_delay)
{
	struct dob_msg m = { .correlation_id = 1, .type = DOB_MSG_ACT,
			     .u.act = { .action = DOB_ACTION_CANCEL } };
	struct dob_act *a = &m.u.act;

	expect_valid(&m);
	a->action = DOB_ACTION_UNSPECIFIED;
	expect_invalid(&m, "act.action: ACTION_UNSPECIFIED is not allowed");
	a->action = DOB_ACTION_CANCEL;
	a->delay_ms = 5;
	expect_invalid(&m, "act.delay_ms: 5, allowed only with ACTION_RESUME_AFTER_DELAY");
	a->action = DOB_ACTION_RESUME_AFTER_DELAY;
	expect_valid(&m);
	a->delay_ms = 0;
	expect_invalid(&m, "act.delay_ms: 0, want 1..86400000");
	a->delay_ms = DOB_MAX_DELAY_MS + 1;
	expect_invalid(&m, "act.delay_ms: 86400001, want 1..86400000");
	a->delay_ms = DOB_MAX_DELAY_MS;
	expect_valid(&m);
}

Test(codec, validates_submit_job)
{
	struct dob_file_spec files[DOB_MAX_FILES + 1];
	struct dob_msg m = { .correlation_id = 1, .type = DOB_MSG_SUBMIT_JOB,
			     .u.submit_job = { .display_name = "job", .n_files = 1,
					       .files = files } };
	struct dob_submit_job *s = &m.u.submit_job;
	char name[258];

	for (int i = 0; i <= DOB_MAX_FILES; i++)
		files[i] = (struct dob_file_spec){ "https://x/", "C:\\x" };
	expect_valid(&m);
	s->n_files = 0;
	expect_invalid(&m, "submit_job.files: 0 entries, min 1");
	s->n_files = DOB_MAX_FILES + 1;
	expect_invalid(&m, "submit_job.files: 65 entries, max 64");
	s->n_files = DOB_MAX_FILES;
	expect_valid(&m);
	files[63].local_path = "";
	expect_invalid(&m, "submit_job.files[63].local_path: 0 characters, min 1");
	files[63].local_path = "C:\\x";
	files[0].remote_url = NULL;
	expect_invalid(&m, "submit_job.files[0].remote_url: 0 characters, min 1");
	files[0].remote_url = "https://x/";
	s->display_name = "";
	expect_invalid(&m, "submit_job.display_name: 0 characters, min 1");
	memset(name, 'd', 257);
	name[257] = '\0';
	s->display_name = name;
	expect_invalid(&m, "submit_job.display_name: 257 characters, max 256");
	s->display_name = "job";
	s->priority = 4;
	expect_invalid(&m, "submit_job.priority: 4 is not a valid Priority");
	s->priority = DOB_PRIORITY_NORMAL;
	s->type = 3;
	expect_invalid(&m, "submit_job.type: 3 is not a valid JobType");
}

Test(codec, validates_policy_exhausted)
{
	struct dob_msg m = { .correlation_id = 1, .type = DOB_MSG_ADOPT_JOB };

	m.u.adopt_job.policy.kind = DOB_POLICY_RESUME;
	m.u.adopt_job.policy.exhausted = DOB_POLICY_RESUME;
	expect_invalid(&m, "adopt_job.policy.exhausted: POLICY_KIND_RESUME is not allowed");
	m.u.adopt_job.policy.exhausted = 5;
	expect_invalid(&m, "adopt_job.policy.exhausted: 5 is not a valid PolicyKind");
	m.u.adopt_job.policy.exhausted = DOB_POLICY_COMPLETE;
	expect_valid(&m);
}

Test(codec, validates_welcome_version)
{
	struct dob_msg m = { .type = DOB_MSG_WELCOME };

	expect_invalid(&m, "welcome.version: 0, min 1");
	m.u.welcome.version = 1;
	expect_valid(&m);
}

Test(codec, validates_fields_nested_in_arrays_and_optional_parts)
{
	struct dob_msg m;

	sample_msg(DOB_MSG_LIST_JOBS_REPLY, &m);
	m.u.list_jobs_reply.jobs[1].owner.user_sid[0] = (char)0xFF;
	expect_invalid(&m, "list_jobs_reply.jobs[1].owner.user_sid: not valid UTF-8 (byte 0)");
	dob_msg_clear(&m);

	sample_msg(DOB_MSG_JOB_MODIFIED, &m);
	m.u.job_modified.error.context = 8;
	expect_invalid(&m, "job_modified.error.context: 8 is not a valid ErrorContext");
	m.u.job_modified.has_error = false; /* an absent part is not looked at */
	expect_valid(&m);
	dob_msg_clear(&m);

	sample_msg(DOB_MSG_JOB_REPLY, &m);
	m.u.job_reply.job.job.state = 9;
	expect_invalid(&m, "job_reply.job.job.state: 9 is not a valid JobState");
	dob_msg_clear(&m);
}

Test(codec, refuses_to_encode_unknown_or_missing_type)
{
	struct dob_msg m = { .type = DOB_MSG_NONE };

	expect_invalid(&m, "envelope: no body");
	m.type = (enum dob_msg_type)99;
	expect_invalid(&m, "envelope: unknown type 99");
	cr_assert_eq(dob_frame_size(&m), -DOB_EFIELD);
}

Test(codec, encode_into_checks_the_limit_and_the_buffer)
{
	struct dob_codec_error err = { 0 };
	struct dob_msg m;
	uint8_t *whole, *buf;
	size_t len;
	int64_t n;

	sample_msg(DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_DEFAULT, &whole, &len, &err), 0);
	buf = malloc(len);
	cr_assert_eq(dob_encode_into(&m, DOB_MAX_FRAME_DEFAULT, buf, len, &err), (int64_t)len);
	cr_assert(memcmp(buf, whole, len) == 0);
	n = dob_encode_into(&m, DOB_MAX_FRAME_DEFAULT, buf, len - 1, &err);
	cr_assert_eq(n, -DOB_EFULL, "%s", err.reason);
	/* The body may be exactly max_frame bytes, not one more. */
	cr_assert_eq(dob_encode_into(&m, (uint32_t)(len - DOB_FRAME_HDR), buf, len, &err),
		     (int64_t)len);
	n = dob_encode_into(&m, (uint32_t)(len - DOB_FRAME_HDR - 1), buf, len, &err);
	cr_assert_eq(n, -DOB_EFRAME_TOO_LARGE);
	cr_assert_eq(err.perr, DOB_PERR_FRAME_TOO_LARGE);
	cr_assert_not_null(strstr(err.reason, "limit"), "%s", err.reason);
	free(buf);
	dob_free(whole);
	dob_msg_clear(&m);
}

Test(codec, random_bytes_fail_cleanly)
{
	int64_t live = dob_alloc_live();

	srand(20240611);
	for (int round = 0; round < 3000; round++) {
		struct dob_codec_error err = { 0 };
		uint8_t buf[256];
		size_t len = 1 + (size_t)rand() % sizeof buf;
		struct dob_msg m;
		int rc;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		rc = dob_decode(buf, len, &m, &err);
		if (rc == 0) {
			dob_msg_clear(&m);
			continue;
		}
		cr_assert(rc == -DOB_EMALFORMED || rc == -DOB_EFIELD, "round %d: %d", round, rc);
		cr_assert_eq(err.perr, rc == -DOB_EMALFORMED ? DOB_PERR_MALFORMED
							    : DOB_PERR_INVALID_FIELD);
		cr_assert_neq(err.reason[0], '\0');
		cr_assert(memcmp(&m, &zero_msg, sizeof m) == 0);
	}
	cr_assert_eq(dob_alloc_live(), live);
}

/* ------------------------------------------------------------ out of memory */

/* Fails allocation k = 1, 2, ... of op until op succeeds; each failure must
 * be a clean -DOB_ENOMEM that leaks nothing. Returns the allocations op
 * needs. */
static uint64_t sweep(int (*op)(const void *arg, void *out), const void *arg, void *out)
{
	uint64_t k;

	for (k = 1;; k++) {
		int64_t live = dob_alloc_live();
		int rc;

		dob_alloc_fail_at(k);
		rc = op(arg, out);
		dob_alloc_fail_at(0);
		if (rc == 0)
			break;
		cr_assert_eq(rc, -DOB_ENOMEM, "allocation %llu: rc %d", (unsigned long long)k, rc);
		cr_assert_eq(dob_alloc_live(), live, "leak after failing allocation %llu",
			     (unsigned long long)k);
		cr_assert_lt(k, 1000000);
	}
	return k;
}

struct frame { uint8_t *buf; size_t len; };

static int decode_op(const void *arg, void *out)
{
	const struct frame *f = arg;
	struct dob_codec_error err = { 0 };
	int rc = dob_decode(f->buf + DOB_FRAME_HDR, f->len - DOB_FRAME_HDR, out, &err);

	if (rc < 0) {
		cr_assert_eq(err.code, rc);
		cr_assert(memcmp(out, &zero_msg, sizeof zero_msg) == 0);
	}
	return rc;
}

static int encode_op(const void *arg, void *out)
{
	struct frame *f = out;

	return dob_encode(arg, DOB_MAX_FRAME_CEILING, &f->buf, &f->len, NULL);
}

Test(codec, decode_and_encode_survive_every_allocation_failure)
{
	for (size_t i = 0; i <= sample_n_types; i++) {
		struct dob_msg m, back;
		struct frame f, again;
		char why[256];
		uint64_t need;

		if (i < sample_n_types)
			sample_msg(sample_types[i], &m);
		else
			sample_list_jobs_reply(40, &m); /* a large message */
		cr_assert_eq(dob_encode(&m, DOB_MAX_FRAME_CEILING, &f.buf, &f.len, NULL), 0);

		need = sweep(decode_op, &f, &back);
		if (m.type != DOB_MSG_LIST_JOBS && m.type != DOB_MSG_GET_STATS)
			cr_assert_gt(need, 1, "%s allocates", dob_msg_type_name(m.type));
		cr_assert(msgcmp_msg(&m, &back, why, sizeof why), "%s", why);

		sweep(encode_op, &m, &again);
		cr_assert_eq(again.len, f.len);
		cr_assert(memcmp(again.buf, f.buf, f.len) == 0);

		dob_free(again.buf);
		dob_free(f.buf);
		dob_msg_clear(&back);
		dob_msg_clear(&m);
	}
}

static int jrec_decode_op(const void *arg, void *out)
{
	const struct frame *f = arg;

	return dob_jrec_decode(f->buf, f->len, out, NULL);
}

static int jrec_encode_op(const void *arg, void *out)
{
	struct frame *f = out;

	return dob_jrec_encode(arg, &f->buf, &f->len, NULL);
}

Test(codec, journal_records_survive_every_allocation_failure)
{
	for (size_t i = 0; i < sample_n_jrec_types; i++) {
		struct dob_jrec r, back;
		struct frame f, again;
		char why[256];

		sample_jrec(sample_jrec_types[i], &r);
		cr_assert_eq(dob_jrec_encode(&r, &f.buf, &f.len, NULL), 0);
		sweep(jrec_decode_op, &f, &back);
		cr_assert(msgcmp_jrec(&r, &back, why, sizeof why), "%s", why);
		sweep(jrec_encode_op, &r, &again);
		cr_assert_eq(again.len, f.len);
		dob_free(again.buf);
		dob_free(f.buf);
		dob_jrec_clear(&back);
		dob_jrec_clear(&r);
	}
}

Test(codec, validates_list_history_limit_and_job_ids)
{
	struct dob_guid ids[DOB_MAX_FILTER_JOBS + 1];
	struct dob_msg m = { .correlation_id = 1, .type = DOB_MSG_LIST_HISTORY,
			     .u.list_history = { .n_job_ids = 1, .job_ids = ids } };
	struct dob_list_history *l = &m.u.list_history;

	memset(ids, 0x5A, sizeof ids);
	expect_valid(&m);
	l->limit = DOB_MAX_HISTORY;
	expect_valid(&m);
	l->limit = DOB_MAX_HISTORY + 1;
	expect_invalid(&m, "list_history.limit: 4097, max 4096");
	l->limit = 0;
	l->n_job_ids = DOB_MAX_FILTER_JOBS + 1;
	expect_invalid(&m, "list_history.job_ids: 65 entries, max 64");
	l->n_job_ids = 0;
	expect_valid(&m); /* no filter: every job */
	m.correlation_id = 0;
	expect_invalid(&m, "envelope.correlation_id: missing (0) on list_history");
}

Test(codec, rejects_list_history_job_id_of_15_bytes_naming_its_index)
{
	struct wire body = { 0 }, env = { 0 };

	wire_guid(&body, 1, 16);
	wire_guid(&body, 1, 15);
	wire_envelope(&env, 9, DOB_MSG_LIST_HISTORY, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "list_history.job_ids[1]: 15 bytes, want 16");
}

Test(codec, rejects_unmanaged_reply_job_without_guid)
{
	struct wire job = { 0 }, body = { 0 }, env = { 0 };

	wire_varint(&job, 4, DOB_STATE_ERROR); /* JobInfo without job_id */
	wire_msg(&body, 4, &job);
	wire_envelope(&env, 9, DOB_MSG_UNMANAGED_REPLY, &body);
	expect_bad(&env, -DOB_EFIELD, DOB_PERR_INVALID_FIELD,
		   "unmanaged_reply.jobs[0].job_id: 0 bytes, want 16");
}

Test(codec, decodes_list_unmanaged_without_fields)
{
	struct wire body = { 0 }, env = { 0 };
	struct dob_msg m;

	wire_envelope(&env, 7, DOB_MSG_LIST_UNMANAGED, &body);
	expect_good(&env, &m);
	cr_assert_eq(m.type, DOB_MSG_LIST_UNMANAGED);
	cr_assert_eq(m.correlation_id, 7);
	dob_msg_clear(&m);
}

Test(codec, journal_decision_written_before_it_had_a_time_decodes_as_unknown)
{
	struct dob_codec_error err = { 0 };
	struct wire res = { 0 }, body = { 0 }, rec = { 0 };
	struct dob_jrec r;

	wire_guid(&res, 1, 16);
	wire_varint(&res, 2, 42);
	wire_varint(&body, 1, 42);
	wire_msg(&body, 2, &res);
	wire_msg(&rec, DOB_JREC_DECISION, &body);
	cr_assert_eq(dob_jrec_decode(rec.b, rec.n, &r, &err), 0, "%s", err.reason);
	cr_assert_eq(r.type, DOB_JREC_DECISION);
	cr_assert_eq(r.u.decision.episode_id, 42);
	cr_assert_eq(r.u.decision.resolved_us, 0);
	cr_assert_eq(r.u.decision.first_seen_us, 0);
	cr_assert_not(r.u.decision.has_owner);
	cr_assert_null(r.u.decision.display_name);
	dob_jrec_clear(&r);
}

/* ------------------------------------------------------------ one encoding, two wrappers */

/* The frame dob_body_pack + dob_frame_wrap make for m, byte for byte the one
 * dob_encode makes. */
static void expect_wrapped_frame_equal(const struct dob_msg *m)
{
	struct dob_codec_error err = { 0 };
	uint8_t *whole, *body, *buf;
	size_t len, blen;
	int64_t n;

	cr_assert_eq(dob_encode(m, DOB_MAX_FRAME_CEILING, &whole, &len, &err), 0, "%s", err.reason);
	cr_assert_eq(dob_body_pack(m, &body, &blen, &err), 0, "%s", err.reason);
	cr_assert_eq(dob_frame_wrap_size(m->type, blen), (int64_t)len, "%s",
		     dob_msg_type_name(m->type));
	buf = malloc(len);
	n = dob_frame_wrap(m->type, body, blen, DOB_MAX_FRAME_CEILING, buf, len, &err);
	cr_assert_eq(n, (int64_t)len, "%s: %s", dob_msg_type_name(m->type), err.reason);
	cr_assert(memcmp(buf, whole, len) == 0, "%s: same bytes", dob_msg_type_name(m->type));
	free(buf);
	dob_free(body);
	dob_free(whole);
}

Test(codec, a_packed_event_body_wrapped_is_the_frame_encode_makes)
{
	int64_t live = dob_alloc_live();
	size_t events = 0;

	for (size_t i = 0; i < sample_n_types; i++) {
		struct dob_msg m, min;

		sample_msg(sample_types[i], &m);
		if (m.correlation_id == 0 && m.type != DOB_MSG_HELLO && m.type != DOB_MSG_WELCOME &&
		    m.type != DOB_MSG_PROTOCOL_ERROR) {
			expect_wrapped_frame_equal(&m);
			/* Every field at its default: an empty body. */
			min = (struct dob_msg){ .type = m.type };
			if (dob_validate(&min, NULL) == 0)
				expect_wrapped_frame_equal(&min);
			events++;
		}
		dob_msg_clear(&m);
	}
	cr_assert_geq(events, 5, "every event type was compared");
	cr_assert_eq(dob_alloc_live(), live);
}

Test(codec, a_packed_job_error_wrapped_is_the_record_jrec_encode_makes)
{
	static const uint64_t ids[] = { 1, 127, 128, 300, 1ull << 35, UINT64_MAX, 0 };
	int64_t live = dob_alloc_live();
	struct dob_jrec r;

	sample_jrec(DOB_JREC_EPISODE, &r);
	for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
		struct dob_codec_error err = { 0 };
		struct dob_msg m = { .type = DOB_MSG_JOB_ERROR };
		uint8_t *want, *got, *body;
		size_t wlen, glen, blen;

		r.u.episode.episode_id = ids[k];
		m.u.job_error = r.u.episode.event;
		cr_assert_eq(dob_jrec_encode(&r, &want, &wlen, &err), 0, "%s", err.reason);
		cr_assert_eq(dob_body_pack(&m, &body, &blen, &err), 0, "%s", err.reason);
		cr_assert_eq(dob_jrec_wrap_episode(ids[k], body, blen, &got, &glen, &err), 0);
		cr_assert_eq(glen, wlen, "id %llu: %zu bytes, want %zu", (unsigned long long)ids[k],
			     glen, wlen);
		cr_assert(memcmp(got, want, wlen) == 0, "id %llu: same bytes",
			  (unsigned long long)ids[k]);
		dob_free(got);
		dob_free(want);
		dob_free(body);
	}
	dob_jrec_clear(&r);
	cr_assert_eq(dob_alloc_live(), live);
}

Test(codec, a_wrapped_frame_keeps_the_limit_and_the_buffer_checks)
{
	struct dob_codec_error err = { 0 }, want = { 0 };
	struct dob_msg m;
	uint8_t *body, *buf;
	size_t blen, len;
	int64_t n;

	sample_msg(DOB_MSG_JOB_ERROR, &m);
	cr_assert_eq(dob_body_pack(&m, &body, &blen, &err), 0);
	len = (size_t)dob_frame_wrap_size(m.type, blen);
	buf = malloc(len);
	cr_assert_eq(dob_frame_wrap(m.type, body, blen, (uint32_t)(len - DOB_FRAME_HDR), buf, len,
				    &err),
		     (int64_t)len, "the body may be exactly max_frame bytes");
	n = dob_frame_wrap(m.type, body, blen, (uint32_t)(len - DOB_FRAME_HDR - 1), buf, len, &err);
	cr_assert_eq(n, -DOB_EFRAME_TOO_LARGE);
	cr_assert_eq(dob_encode_into(&m, (uint32_t)(len - DOB_FRAME_HDR - 1), buf, len, &want),
		     -DOB_EFRAME_TOO_LARGE);
	cr_assert_eq(err.perr, DOB_PERR_FRAME_TOO_LARGE);
	cr_assert_str_eq(err.reason, want.reason);
	n = dob_frame_wrap(m.type, body, blen, DOB_MAX_FRAME_CEILING, buf, len - 1, &err);
	cr_assert_eq(n, -DOB_EFULL, "%s", err.reason);
	free(buf);
	dob_free(body);
	dob_msg_clear(&m);
}

Test(codec, packing_a_body_refuses_what_encode_refuses_and_requests)
{
	struct dob_codec_error err = { 0 };
	struct dob_msg m;
	uint8_t *body = (uint8_t *)&err;
	size_t blen = 7;

	sample_msg(DOB_MSG_JOB_ERROR, &m);
	m.u.job_error.job.state = 42;
	cr_assert_eq(dob_body_pack(&m, &body, &blen, &err), -DOB_EFIELD);
	cr_assert_str_eq(err.reason, "job_error.job.state: 42 is not a valid JobState");
	cr_assert_null(body);
	cr_assert_eq(blen, 0);
	dob_msg_clear(&m);
	sample_msg(DOB_MSG_ACT, &m); /* a request: its correlation id is not in a body */
	cr_assert_eq(dob_body_pack(&m, &body, &blen, &err), -DOB_EINVAL);
	cr_assert_null(body);
	dob_msg_clear(&m);
}

static int pack_op(const void *arg, void *out)
{
	struct frame *f = out;

	return dob_body_pack(arg, &f->buf, &f->len, NULL);
}

static int wrap_op(const void *arg, void *out)
{
	const struct frame *body = arg;
	struct frame *f = out;

	return dob_jrec_wrap_episode(9, body->buf, body->len, &f->buf, &f->len, NULL);
}

Test(codec, packing_and_wrapping_survive_every_allocation_failure)
{
	struct dob_msg m;
	struct frame body, rec;
	struct dob_jrec back;

	sample_msg(DOB_MSG_JOB_ERROR, &m);
	cr_assert_gt(sweep(pack_op, &m, &body), 1, "packing allocates");
	cr_assert_eq(sweep(wrap_op, &body, &rec), 2, "wrapping allocates once");
	cr_assert_eq(dob_jrec_decode(rec.buf, rec.len, &back, NULL), 0);
	cr_assert_eq(back.type, DOB_JREC_EPISODE);
	cr_assert_eq(back.u.episode.episode_id, 9);
	dob_jrec_clear(&back);
	dob_free(rec.buf);
	dob_free(body.buf);
	dob_msg_clear(&m);
}
