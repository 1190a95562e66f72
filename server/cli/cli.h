#pragma once

namespace Berth::Cli {

// berthd's command line: run | check | version | log (start, stop, kill, reload and status
// arrive with the process model). Returns the process exit code.
int main(int argc, char **argv);

} // namespace Berth::Cli
