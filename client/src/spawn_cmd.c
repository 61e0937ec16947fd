/*
 * client/src/spawn_cmd.c - the portable part of spawn_cmd.h: first-line
 * capture of a command's output.
 */
#include "spawn_cmd.h"

void spawn_line_init(struct spawn_line *l, char *buf, size_t cap)
{
	l->buf = buf;
	l->cap = cap;
	l->have = 0;
	l->done = false;
	if (cap)
		buf[0] = '\0';
}

void spawn_line_feed(struct spawn_line *l, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !l->done; i++) {
		if (p[i] == '\n')
			l->done = true;
		else if (l->have + 1 < l->cap)
			l->buf[l->have++] = p[i];
	}
	if (l->cap)
		l->buf[l->have] = '\0';
}
