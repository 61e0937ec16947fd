/*
 * wire.h - a few lines of protobuf wire format, for tests that craft frames
 * the codec would never write (a 15-byte GUID, an enum out of range, an
 * unknown field). Independent of protobuf-c.
 */
#ifndef DOB_TEST_WIRE_H
#define DOB_TEST_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct wire {
	size_t n;
	uint8_t b[16384];
};

void wire_varint(struct wire *w, uint32_t field, uint64_t v);
void wire_fixed32(struct wire *w, uint32_t field, uint32_t v);
void wire_fixed64(struct wire *w, uint32_t field, uint64_t v);
void wire_bytes(struct wire *w, uint32_t field, const void *p, size_t len);
void wire_str(struct wire *w, uint32_t field, const char *s);
void wire_msg(struct wire *w, uint32_t field, const struct wire *inner);
/* A GUID of len bytes (0x11, 0x22, ...). */
void wire_guid(struct wire *w, uint32_t field, size_t len);
/* An Envelope: correlation_id (when not 0) and body as oneof field num. */
void wire_envelope(struct wire *env, uint64_t corr, uint32_t num, const struct wire *body);
/* An Act body: a GUID of guid_len bytes, episode_id 300, action. */
void wire_act(struct wire *w, size_t guid_len, uint64_t action);
/* A Hello body: versions 1..1, role OBSERVER, client_name of len bytes. */
void wire_hello(struct wire *w, const void *name, size_t len);
/* A frame: the length prefix, then the bytes of w. */
void wire_frame(struct wire *frame, const struct wire *w);

#endif
