#include "loader.h"
int cmd_attach(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int cmd_detach(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int cmd_status(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int cmd_allow(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int cmd_disallow(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int cmd_exemptions(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int cmd_stats(const struct pg_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	return 1;
}
int pg_exempt_count(int fd, bool v6, unsigned int *n)
{
	(void)fd;
	(void)v6;
	*n = 0;
	return 0;
}
