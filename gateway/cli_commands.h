// gateway/cli_commands.h: every `edocgw` command described once: its
// options, what it does, an example and its exit codes. The option parser
// (spec_of), `--help`, the overview and the man page edocgw(8) are all made
// from this table, so what a command accepts and what its help says cannot
// drift apart.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/cli_args.h"

namespace edocgw::cli {

struct OptionDoc {
  std::string name;   // "--trust"
  std::string value;  // "ANCHORS.pem"; empty for a flag
  std::string help;   // one or two sentences
  bool repeatable = false;
};

struct ExitDoc {
  int code = 0;
  std::string meaning;
};

struct CommandDoc {
  std::string name;                   // "audit verify"
  std::string summary;                // one line, no final period
  std::vector<std::string> synopsis;  // forms, each after "edocgw NAME "
  std::string description;            // paragraphs separated by "\n\n"
  std::vector<OptionDoc> options;
  std::vector<std::string> examples;  // shell lines
  std::vector<ExitDoc> exit_codes;
};

// Every command, in the order the overview and the man page list them.
const std::vector<CommandDoc>& commands();

// The command named `name` ("verify", "audit prove"), or nullptr.
const CommandDoc* find_command(std::string_view name);

// What Args::parse accepts for the command: exactly its documented options.
OptionSpec spec_of(const CommandDoc& command);
// The same for a command by name; throws std::logic_error for an unknown
// name (a programming error, found by every test that runs the command).
OptionSpec spec_of(std::string_view name);

// `edocgw COMMAND --help`.
std::string render_help(const CommandDoc& command);
// `edocgw --help`: every command's synopsis and summary.
std::string render_overview();
// The man page edocgw(8), in roff (man macros).
std::string render_man(std::string_view version, std::string_view date);
// The synopsis lines of a command ("usage: edocgw NAME ..."), for usage errors.
std::string render_synopsis(const CommandDoc& command);

}  // namespace edocgw::cli
