// celmatch: the command line. Each command lives in its own cmd_*.cpp and
// registers itself here; they parse arguments and call the library.
#include <string>

#include <CLI/CLI.hpp>

#include "cli_common.h"

int main(int argc, char** argv) {
  using namespace celmatch::cli;
  CLI::App app{"celmatch: find which animated production, episode and moment a leaked frame, cel or clip comes from."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("celmatch ") + CELMATCH_VERSION);

  SetCommandLine(argc, argv);
  CommandRegistry registry;
  RegisterIndexCommands(app, registry);
  RegisterMatchCommand(app, registry);
  RegisterBenchCommands(app, registry);
  RegisterHashCommand(app, registry);
  RegisterServeCommand(app, registry);
  RegisterReportCommand(app, registry);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return registry.RunParsed();
}
