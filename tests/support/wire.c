/*
 * wire.c - protobuf wire format by hand, for crafting test frames.
 */
#include <stdlib.h>
#include <string.h>

#include "dob/codec.h"
#include "wire.h"

static void put(struct wire *w, const void *p, size_t len)
{
	if (len > sizeof w->b - w->n)
		abort(); /* a test built a frame too big for struct wire */
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void raw_varint(struct wire *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;

	do {
		b[n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(w, b, n);
}

static void tag(struct wire *w, uint32_t field, unsigned type)
{
	raw_varint(w, (uint64_t)field << 3 | type);
}

void wire_varint(struct wire *w, uint32_t field, uint64_t v)
{
	tag(w, field, 0);
	raw_varint(w, v);
}

void wire_fixed32(struct wire *w, uint32_t field, uint32_t v)
{
	uint8_t b[4];

	tag(w, field, 5);
	dob_put_u32le(b, v);
	put(w, b, 4);
}

void wire_fixed64(struct wire *w, uint32_t field, uint64_t v)
{
	uint8_t b[8];

	tag(w, field, 1);
	dob_put_u32le(b, (uint32_t)v);
	dob_put_u32le(b + 4, (uint32_t)(v >> 32));
	put(w, b, 8);
}

void wire_bytes(struct wire *w, uint32_t field, const void *p, size_t len)
{
	tag(w, field, 2);
	raw_varint(w, len);
	put(w, p, len);
}

void wire_str(struct wire *w, uint32_t field, const char *s)
{
	wire_bytes(w, field, s, strlen(s));
}

void wire_msg(struct wire *w, uint32_t field, const struct wire *inner)
{
	wire_bytes(w, field, inner->b, inner->n);
}

void wire_guid(struct wire *w, uint32_t field, size_t len)
{
	uint8_t g[64];

	for (size_t i = 0; i < len && i < sizeof g; i++)
		g[i] = (uint8_t)(0x11 * (i + 1));
	wire_bytes(w, field, g, len);
}

void wire_envelope(struct wire *env, uint64_t corr, uint32_t num, const struct wire *body)
{
	env->n = 0;
	if (corr)
		wire_varint(env, 1, corr);
	wire_msg(env, num, body);
}

void wire_act(struct wire *w, size_t guid_len, uint64_t action)
{
	w->n = 0;
	wire_guid(w, 1, guid_len);
	wire_varint(w, 2, 300);
	wire_varint(w, 3, action);
}

void wire_hello(struct wire *w, const void *name, size_t len)
{
	w->n = 0;
	wire_varint(w, 1, 1);
	wire_varint(w, 2, 1);
	wire_bytes(w, 3, name, len);
	wire_varint(w, 4, 1); /* ROLE_OBSERVER */
}

void wire_frame(struct wire *frame, const struct wire *w)
{
	uint8_t hdr[DOB_FRAME_HDR];

	frame->n = 0;
	dob_put_u32le(hdr, (uint32_t)w->n);
	put(frame, hdr, sizeof hdr);
	put(frame, w->b, w->n);
}
