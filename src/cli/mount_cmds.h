/*
 * mount_cmds.h - `dits mount`, `dits umount`, and `dits mode` inside a
 * mounted tree (src/mount, docs/MOUNT.md).
 */
#ifndef DITS_CLI_MOUNT_CMDS_H
#define DITS_CLI_MOUNT_CMDS_H

/* dits mount [MOUNTPOINT [--mode proxy|master] [--variant TYPE] [--foreground] [REV]] */
int cmd_mount(int argc, char **argv);
/* dits umount [--lazy] MOUNTPOINT */
int cmd_umount(int argc, char **argv);

#include <stdbool.h>

/*
 * Called first by `dits mode`, with its parsed arguments. When the current
 * directory, or the first of paths, lies inside a live Dits mount, it
 * performs the command on that mount through its control file (set:
 * `mode proxy|master [PATH...]` switches; otherwise `mode [--json]
 * [PATH...]` lists), sets *exit_code and returns 1. Returns 0, touching
 * nothing, when not inside a mount.
 */
int cli_mode_in_mount(bool set, bool proxy, bool json, const char *variant, char **paths, int npaths,
                      int *exit_code);

#endif
