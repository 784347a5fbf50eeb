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
	free(s->val);
	memset(s, 0, sizeof *s);
}

static size_t id_slot(const dits_id *id, size_t cap)
{
	uint64_t h;
	memcpy(&h, id->b + 8, sizeof h);
	return (size_t)(h & (cap - 1));
}

/* id's slot, or SIZE_MAX. */
static size_t find(const dits_idset *s, const dits_id *id)
{
	if (!s->cap)
		return SIZE_MAX;
	for (size_t i = id_slot(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (!s->val[i])
			return SIZE_MAX;
		if (dits_id_eq(&s->v[i], id))
			return i;
	}
}

bool dits_idset_has(const dits_idset *s, const dits_id *id)
{
	return find(s, id) != SIZE_MAX;
}

int dits_idset_get(const dits_idset *s, const dits_id *id)
{
	size_t i = find(s, id);
	return i == SIZE_MAX ? -1 : s->val[i] - 1;
}

/* *slot receives id's slot, added (empty value) when missing: 1 when added, 0 when there, <0 on error. */
static int insert(dits_idset *s, const dits_id *id, size_t *slot)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		dits_id *v = calloc(cap, sizeof *v);
		uint16_t *val = calloc(cap, sizeof *val);
		if (!v || !val) {
			free(v);
			free(val);
			return dits_error_set(DITS_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->val[i])
				continue;
			size_t j = id_slot(&s->v[i], cap);
			while (val[j])
				j = (j + 1) & (cap - 1);
			val[j] = s->val[i];
			v[j] = s->v[i];
		}
		free(s->v);
		free(s->val);
		s->v = v;
		s->val = val;
		s->cap = cap;
	}
	size_t i = id_slot(id, s->cap);
	for (;; i = (i + 1) & (s->cap - 1)) {
		if (!s->val[i])
			break;
		if (dits_id_eq(&s->v[i], id)) {
			*slot = i;
			return 0;
		}
	}
	s->v[i] = *id;
	s->n++;
	*slot = i;
	return 1;
}

/* 1 when added, 0 when already there, <0 on error. */
int dits_idset_add(dits_idset *s, const dits_id *id)
{
	size_t i;
	int rc = insert(s, id, &i);
	if (rc == 1)
		s->val[i] = 1;
	return rc;
}

int dits_idset_put(dits_idset *s, const dits_id *id, uint16_t value)
{
	size_t i;
	int rc = insert(s, id, &i);
	if (rc < 0)
		return rc;
	s->val[i] = (uint16_t)(value + 1);
	return 0;
}
