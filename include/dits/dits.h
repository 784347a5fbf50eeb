/*
 * dits/dits.h - the public API of the Dits library, all of it.
 *
 * A program built against include/ alone can open a repository, read its
 * settings, resolve revisions and refs, and read its trees and commits.
 * The library's own headers (src/) are not part of this API: a
 * repository's struct is opaque, read through the dits_repo_* accessors.
 */
#ifndef DITS_PUBLIC_DITS_H
#define DITS_PUBLIC_DITS_H

#include "dits/config.h"
#include "dits/error.h"
#include "dits/hash.h"
#include "dits/object.h"
#include "dits/odb.h"
#include "dits/refs.h"
#include "dits/repo.h"

#endif
