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

/*
 * Called first by `dits mode` (argv[0] is "mode"). When the current
 * directory, or the first PATH given, lies inside a live Dits mount, it
 * performs the command on that mount through its control file
 * (`mode proxy|master [PATH...]` switches, `mode [--json] [PATH...]`
 * lists), sets *exit_code and returns 1. Returns 0, touching nothing, when
 * not inside a mount.
 */
int cli_mode_in_mount(int argc, char **argv, int *exit_code);

#endif
