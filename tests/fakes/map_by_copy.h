/*
 * tests/fakes/map_by_copy.h - plat_file_map and plat_file_unmap for a fake
 * file layer, on top of its plat_file_read_all: the view is a copy (the
 * same contract as the real ones: NULL data for an empty file, valid until
 * plat_file_unmap). Included by exactly one file of each fake layer
 * (tests/fakes/fake_files.c, tests/fuzz/support/mem_files.c), after its
 * plat_file_read_all.
 */
#ifndef DOB_TESTS_MAP_BY_COPY_H
#define DOB_TESTS_MAP_BY_COPY_H

struct plat_map {
	uint8_t *b;
};

int plat_file_map(const char *path, const uint8_t **data, size_t *len, struct plat_map **out)
{
	struct plat_map *m = dob_calloc(1, sizeof(*m));
	int rc;

	*data = NULL;
	*len = 0;
	*out = NULL;
	if (!m)
		return -DOB_ENOMEM;
	rc = plat_file_read_all(path, &m->b, len);
	if (rc < 0) {
		dob_free(m);
		return rc;
	}
	*data = *len ? m->b : NULL;
	*out = m;
	return 0;
}

void plat_file_unmap(struct plat_map *m)
{
	if (!m)
		return;
	dob_free(m->b);
	dob_free(m);
}

#endif
