/*
 * dlfunc_floor.c - a ${dlfunc} module that does nothing: its mtasts_mode
 * answers "enforce" at once.  tests/bench/exim.py --compare
 * build/tests/bench/dlfunc_floor.so measures what loading any module
 * costs an Exim process, the floor under the real module's cost.
 */
int mtasts_mode(char **yield, int argc, char *argv[]);

int
mtasts_mode(char **yield, int argc, char *argv[])
{
	static char enforce[] = "enforce";

	(void)argc;
	(void)argv;
	*yield = enforce;
	return 0; /* Exim's OK */
}
