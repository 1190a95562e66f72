#include "cli/cli.h"

int main(int argc, char **argv)
{
    return Berth::Cli::main(argc, argv);
}
