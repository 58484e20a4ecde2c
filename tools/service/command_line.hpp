// SPDX-License-Identifier: Apache-2.0
// One way to read a command line, shared by every tool (CLI11, Debian's
// libcli11-dev): the same conventions everywhere.
//
//   --long-name VALUE and --long-name=VALUE; flags without a value;
//   -h / --help: the usage on stdout, exit 0;
//   --version: the version line (tool_version.hpp) on stdout, exit 0;
//   a flag given twice: the last one counts;
//   an unknown flag, a missing or bad value: one line on stderr naming the
//   flag, "PROGRAM: --flag: problem (see --help)", exit kExitUsage (2).
//
// A tool adds its options to app() (a one-liner each: number(), text(),
// CLI11's add_flag / add_option), then calls parse(). Checks that span
// several flags come after parse(), with refuse(). Values are checked by the
// validators below before CLI11 converts them, so every refusal reads the
// same way and names the flag.
//
// This header includes CLI11, which reports with exceptions: a translation
// unit that includes it is compiled with -fexceptions even in the
// -fno-exceptions profile (uplink_tool_command_line() in CMakeLists.txt);
// parse() catches every exception it can raise. The SDK never includes it.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "flag_values.hpp"

namespace uplink::tools {

/// Exit status of a tool whose command line is refused.
constexpr int kExitUsage = 2;

/// Whether `host` is a numeric IPv4 or IPv6 address (nothing is resolved).
[[nodiscard]] bool is_numeric_address(const std::string& host);

/// A value within [min, max]; refused with `expected` ("expected
/// milliseconds, 1..60000") and the value given.
CLI::Validator unsigned_within(std::uint64_t min, std::uint64_t max, std::string expected);
/// One of `names`; refused with "expected a, b or c, got 'x'".
CLI::Validator one_of(std::initializer_list<const char*> names);
/// host:port with a numeric address (IPv4 or [IPv6]) and a port 0..65535.
CLI::Validator numeric_host_port();
/// A value that is not empty ("expected a file name").
CLI::Validator not_empty(std::string expected);

/// The command line of one tool.
class CommandLine {
 public:
  /// `program` names the tool in messages and --version; `description`
  /// opens --help.
  CommandLine(std::string program, std::string description);

  [[nodiscard]] CLI::App& app() { return app_; }
  [[nodiscard]] const std::string& program() const { return program_; }

  /// An unsigned option into `target`, within [min, max] (default: all
  /// that `T` holds), refused with `expected` otherwise.
  template <typename T>
  CLI::Option* number(const std::string& name, T& target, const std::string& help, std::string expected,
                      std::uint64_t min = 0, std::uint64_t max = std::numeric_limits<T>::max()) {
    return app_.add_option(name, target, help)->type_name("N")->check(unsigned_within(min, max, std::move(expected)));
  }
  /// A string option into `target`, refused when empty (`expected`).
  CLI::Option* text(const std::string& name, std::string& target, const std::string& help,
                    const std::string& type_name, std::string expected);

  /// Parses argv. Returns nothing when the tool is to run; otherwise the
  /// exit status: 0 after --help or --version (printed on stdout),
  /// kExitUsage after a message on stderr naming the flag.
  [[nodiscard]] std::optional<int> parse(int argc, const char* const* argv);

  /// The message parse() printed for its last refusal (for tests), without
  /// the program's name.
  [[nodiscard]] const std::string& refusal() const { return refusal_; }

  /// Prints "PROGRAM: flag: problem (see --help)" on stderr and returns
  /// kExitUsage: for the checks across flags after parse().
  int refuse(std::string_view flag, std::string_view problem);

 private:
  /// Refuses the first argument no option took, if any.
  std::optional<int> refuse_extras();

  std::string program_;
  CLI::App app_;
  std::string refusal_;
};

}  // namespace uplink::tools
