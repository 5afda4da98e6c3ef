/*
 * The thinsnap command's verbs (cli/ internal). Each returns the exit status:
 * 0 success, 1 the operation failed, 2 a usage error.
 */
#pragma once

int thinsnap_cli_pool(int argc, char **argv);
int thinsnap_cli_thin(int argc, char **argv);
