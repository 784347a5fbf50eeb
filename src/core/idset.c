/*
 * idset.c - a set of ids (idset.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "idset.h"

void dits_idset_free(dits_idset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof *s);
}

static size_t id_slot(const dits_id *id, size_t cap)
{
	uint64_t h;
	memcpy(&h, id->b + 8, sizeof h);
	return (size_t)(h & (cap - 1));
}

bool dits_idset_has(const dits_idset *s, const dits_id *id)
{
	if (!s->cap)
		return false;
	for (size_t i = id_slot(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (!s->used[i])
			return false;
		if (dits_id_eq(&s->v[i], id))
			return true;
	}
}

/* 1 when added, 0 when already there, <0 on error. */
int dits_idset_add(dits_idset *s, const dits_id *id)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		dits_id *v = calloc(cap, sizeof *v);
		bool *used = calloc(cap, sizeof *used);
		if (!v || !used) {
			free(v);
			free(used);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->used[i])
				continue;
			size_t j = id_slot(&s->v[i], cap);
			while (used[j])
				j = (j + 1) & (cap - 1);
			used[j] = true;
			v[j] = s->v[i];
		}
		free(s->v);
		free(s->used);
		s->v = v;
		s->used = used;
		s->cap = cap;
	}
	size_t i = id_slot(id, s->cap);
	for (;; i = (i + 1) & (s->cap - 1)) {
		if (!s->used[i])
			break;
		if (dits_id_eq(&s->v[i], id))
			return 0;
	}
	s->used[i] = true;
	s->v[i] = *id;
	s->n++;
	return 1;
}

