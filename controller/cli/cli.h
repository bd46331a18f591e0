/* The berth command line: one function per command, each returning the process exit status. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include "core/version.h"

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_rollout(int argc, char **argv);

#endif
