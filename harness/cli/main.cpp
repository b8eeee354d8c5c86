// attnbench: benchmark attention backends (plugins) against a float64 reference.
#include <iostream>

#include "../npy.h"
#include "cli_common.h"
#include "commands.h"

int main(int argc, char** argv) {
  using namespace attnbench;
  CLI::App app{
      "attnbench: cross-validate and benchmark attention kernels (the four attention variants of "
      "chapter 3 of \"Build a Large Language Model (From Scratch)\") loaded as plugins."};
  app.require_subcommand(1);
  app.footer("Exit codes: 0 ok, 1 a check failed, 2 bad input. `attnbench COMMAND --help` for more.");
  int rc = cli::kExitOk;
  cli::AddListCommand(app, rc);
  cli::AddValidateCommand(app, rc);
  cli::AddRunCommand(app, rc);
  cli::AddExplainCommand(app, rc);
  cli::AddBenchCommand(app, rc);
  cli::AddPlotCommand(app, rc);
  cli::AddCompareCommand(app, rc);
  cli::AddMachineCommand(app, rc);
  cli::AddMergeCommand(app, rc);
  cli::AddHistoryCommand(app, rc);
  cli::AddPeersManifestCommand(app, rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the parse error
    return code == 0 ? cli::kExitOk : cli::kExitBadInput;
  } catch (const InputError& e) {
    std::cerr << "attnbench: " << e.what() << "\n";
    return cli::kExitBadInput;
  } catch (const NpyError& e) {
    std::cerr << "attnbench: " << e.what() << "\n";
    return cli::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "attnbench: error: " << e.what() << "\n";
    return cli::kExitFailed;
  }
  return rc;
}
