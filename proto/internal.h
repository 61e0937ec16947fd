/*
 * proto/internal.h - what the files of proto/ share and nobody else sees.
 *
 * The layout tables (layout.c) describe every struct of dob/msg.h field by
 * field: the .proto name and number of each field, its kind, where it lives
 * in the struct, and its bounds. One table drives clear and copy (msg.c),
 * validation (validate.c) and the conversion to and from protobuf-c
 * (codec.c), so a field is described once. dob_codec_selfcheck() compares
 * the tables with the compiled schema.
 */
#ifndef DOB_PROTO_INTERNAL_H
#define DOB_PROTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dob/codec.h"
#include "dob/msg.h"

#if defined(__GNUC__)
#define DOB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DOB_PRINTF(f, a)
#endif

/* ------------------------------------------------------------ err.c */

/* Fills *err (NULL-safe) and returns code. */
int err_set(struct dob_codec_error *err, int code, enum dob_perr perr,
	    const char *fmt, ...) DOB_PRINTF(4, 5);

/* ------------------------------------------------------------ layout.c */

enum layout_kind {
	LK_U32,   /* uint32_t (uint32 or fixed32 on the wire) */
	LK_U64,   /* uint64_t */
	LK_I64,   /* int64_t */
	LK_BOOL,  /* bool */
	LK_ENUM,  /* an enum dob_* (int-sized); max = its largest value */
	LK_STR,   /* char *, owned; NULL = ""; min..max characters */
	LK_GUID,  /* struct dob_guid (bytes, exactly 16) */
	LK_GUIDS, /* struct dob_guid * + count at aux (repeated bytes) */
	LK_KINDS, /* uint32_t bit mask of dob_event_kind (repeated EventKind) */
	LK_SUB,   /* embedded struct of type sub (a message field) */
	LK_OPT,   /* embedded struct, present when the bool at aux is true */
	LK_ARR,   /* array of struct sub + count at aux (repeated message) */
};

struct layout_type;

struct layout_field {
	const char *name;     /* the .proto field name */
	uint32_t num;         /* the .proto field number */
	uint8_t kind;         /* enum layout_kind */
	uint16_t off;         /* offset of the value in the struct */
	uint16_t aux;         /* LK_GUIDS/LK_ARR: offset of the count (size_t);
			       * LK_OPT: offset of the presence flag (bool) */
	uint32_t min, max;    /* LK_STR: characters; LK_GUIDS/LK_KINDS/LK_ARR:
			       * entries; LK_ENUM: max is the largest value */
	const struct layout_type *sub; /* LK_SUB/LK_OPT/LK_ARR */
	const char *ename;    /* LK_ENUM: the .proto enum name, for reasons */
};

struct validate_path;

struct layout_type {
	size_t size;
	size_t nfields;
	const struct layout_field *fields;
	/* Rules across fields, after each field passed; NULL when none. */
	int (*check)(const void *s, struct validate_path *p,
		     struct dob_codec_error *err);
};

/* How a message uses Envelope.correlation_id. */
enum layout_corr { CORR_ZERO, CORR_REQUIRED, CORR_ANY };

/* One member of a oneof body (Envelope.body or JournalRecord.body). */
struct layout_body {
	uint32_t num;                   /* field number = enum dob_msg_type / dob_jrec_type */
	const char *name;               /* the .proto field name */
	const struct layout_type *type;
	uint8_t corr;                   /* enum layout_corr (Envelope only) */
};

extern const struct layout_body layout_msgs[];
extern const size_t layout_n_msgs;
extern const struct layout_body layout_jrecs[];
extern const size_t layout_n_jrecs;

extern const struct layout_type layout_job_info, layout_error_info,
	layout_identity, layout_actor;

/* The body with that field number, or NULL. */
const struct layout_body *layout_find(const struct layout_body *tab, size_t n,
				      uint32_t num);

/* Bytes a value of a number, bool, enum or GUID kind occupies in a dob
 * struct (and, but for LK_BOOL, in a protobuf-c struct); 0 for the rest. */
size_t layout_scalar_size(enum layout_kind k);

/* Generic walkers over a struct described by t. */
void layout_clear(const struct layout_type *t, void *s);
/* dst must be zeroed; on -DOB_ENOMEM it holds a partial copy to clear. */
int layout_copy(const struct layout_type *t, void *dst, const void *src);

/* Field access by offset. */
#define LAYOUT_AT(T, base, off) ((T *)((char *)(base) + (off)))
#define LAYOUT_CAT(T, base, off) ((const T *)((const char *)(base) + (off)))

/* ------------------------------------------------------------ validate.c */

/* The path of the field being looked at, used to prefix reasons
 * ("submit_job.files[2]"). Kept as the names and indexes pushed (static
 * strings) and spelled out only when a reason needs it: every field of every
 * message validated passes here. */
#define VALIDATE_DEPTH 16
struct validate_path {
	struct {
		const char *name;
		long i;
	} at[VALIDATE_DEPTH];
	size_t len; /* names pushed; those past VALIDATE_DEPTH are not kept */
};

void validate_root(struct validate_path *p, const char *root);
/* Appends ".name" or ".name[i]" (i < 0: no index; name must outlive p);
 * returns the old length for validate_pop. */
size_t validate_push(struct validate_path *p, const char *name, long i);
void validate_pop(struct validate_path *p, size_t len);
/* err_set() with the reason "<path>: <text>"; code -DOB_EFIELD, perr
 * INVALID_FIELD. */
int validate_fail(const struct validate_path *p, struct dob_codec_error *err,
		  const char *fmt, ...) DOB_PRINTF(3, 4);
/* Same for field `name` below the path. */
int validate_fail_at(struct validate_path *p, struct dob_codec_error *err,
		     const char *name, const char *fmt, ...) DOB_PRINTF(4, 5);
/* Entry count of field f against its bounds (min applies when use_min). */
int validate_count(struct validate_path *p, struct dob_codec_error *err,
		   const struct layout_field *f, size_t n, bool use_min);
/* Every field of the struct s of type t, then t->check. */
int validate_struct(const struct layout_type *t, const void *s,
		    struct validate_path *p, struct dob_codec_error *err);
/* An EventKind value of a filter: 1..DOB_EVENT_MAX. */
int validate_event_kind(struct validate_path *p, struct dob_codec_error *err,
			const char *name, long i, int64_t v);

/* The rules layout.c attaches to types (layout_type.check). */
int validate_hello(const void *s, struct validate_path *p, struct dob_codec_error *err);
int validate_welcome(const void *s, struct validate_path *p, struct dob_codec_error *err);
int validate_act(const void *s, struct validate_path *p, struct dob_codec_error *err);
int validate_policy(const void *s, struct validate_path *p, struct dob_codec_error *err);
int validate_list_history(const void *s, struct validate_path *p, struct dob_codec_error *err);

#endif
