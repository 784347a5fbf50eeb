/*
 * idset.h - a set of ids (open addressing), for walks over the object graph.
 */
#ifndef DITS_IDSET_H
#define DITS_IDSET_H

#include <stdbool.h>
#include <stddef.h>

#include "hash.h"

typedef struct dits_idset {
	dits_id *v;
	bool *used;
	size_t n, cap;
} dits_idset;

void dits_idset_free(dits_idset *s);
bool dits_idset_has(const dits_idset *s, const dits_id *id);
/* 1 when added, 0 when already there, DITS_ENOMEM. */
int dits_idset_add(dits_idset *s, const dits_id *id);

#endif
