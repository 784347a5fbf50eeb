/*
 * refs.h - HEAD, branches and tags: the whole API is public (dits/refs.h).
 */
#ifndef DITS_REFS_H
#define DITS_REFS_H

#include "dits/refs.h"
#include "hash.h"
#include "repo.h"

#endif
