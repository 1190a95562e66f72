#pragma once

namespace Berth::Cli {

// berthd's command line (berthd -h lists the commands; docs/operations.md): nginx's -t and -T
// for check, -v/--version, -h/--help on every command, an unknown option a usage line and exit
// 2. Returns the process exit code.
int main(int argc, char **argv);

} // namespace Berth::Cli
