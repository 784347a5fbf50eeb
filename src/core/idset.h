/*
 * idset.h - a set of ids (open addressing), for walks over the object graph;
 * each id may carry a small value (a tree's height, for instance).
 */
#ifndef DITS_IDSET_H
#define DITS_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

typedef struct dits_idset {
	dits_id *v;
	uint16_t *val; /* per slot: 0 empty, else the id's value + 1 */
	size_t n, cap;
} dits_idset;

void dits_idset_free(dits_idset *s);
bool dits_idset_has(const dits_idset *s, const dits_id *id);
/* 1 when added (with value 0), 0 when already there, DITS_ENOMEM. */
int dits_idset_add(dits_idset *s, const dits_id *id);
/* id's value, or -1 when id is not in the set. */
int dits_idset_get(const dits_idset *s, const dits_id *id);
/* Adds id if needed and sets its value (0..65534): 0 or DITS_ENOMEM. */
int dits_idset_put(dits_idset *s, const dits_id *id, uint16_t value);

#endif
