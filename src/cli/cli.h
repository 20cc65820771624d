/* cli.h -- exit codes and the command table shared by main.c and the cmd_*.c files. */
#ifndef HERD_CLI_CLI_H
#define HERD_CLI_CLI_H

enum cli_exit {
    CLI_EXIT_OK = 0,      /* success */
    CLI_EXIT_FAILED = 1,  /* a threshold or check failed */
    CLI_EXIT_USAGE = 2,   /* bad usage or bad input */
    CLI_EXIT_RUNTIME = 3, /* port in use, cannot launch, ... */
};

/* Each command parses its own argv (argv[0] is the command name) and returns an exit code. */
int cmd_node(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
