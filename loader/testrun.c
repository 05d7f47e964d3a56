// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `portgate test`: placeholder until the command lands. */
#include "loader.h"

int cmd_test(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	fprintf(stderr, "portgate: 'test' is not implemented yet\n");
	return PG_EXIT_RUNTIME;
}
