// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/cli/cli.hpp"

int main(int argc, char **argv)
{
	return mxwatch::run_cli(argc, argv);
}
