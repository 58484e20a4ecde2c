// SPDX-License-Identifier: Apache-2.0
// The tools' command line on CLI11 (see command_line.hpp).
#include "command_line.hpp"

#include <cstdio>

#include "uplink/net/asio.hpp"

#include <asio/ip/address.hpp>

#include "tool_version.hpp"

namespace uplink::tools {

bool is_numeric_address(const std::string& host) {
  asio::error_code error;
  (void)asio::ip::make_address(host, error);
  return !error;
}

CLI::Validator unsigned_within(std::uint64_t min, std::uint64_t max, std::string expected) {
  return CLI::Validator(
      [min, max, expected](std::string& value) -> std::string {
        std::uint64_t n = 0;
        if (parse_unsigned(value, n) && n >= min && n <= max) return {};
        return expected + ", got '" + value + "'";
      },
      "", "");
}

CLI::Validator one_of(std::initializer_list<const char*> names) {
  std::vector<std::string> allowed(names.begin(), names.end());
  std::string expected = "expected ";
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (i != 0) expected += i + 1 == allowed.size() ? " or " : ", ";
    expected += allowed[i];
  }
  return CLI::Validator(
      [allowed, expected](std::string& value) -> std::string {
        for (const std::string& name : allowed) {
          if (value == name) return {};
        }
        return expected + ", got '" + value + "'";
      },
      "", "");
}

CLI::Validator numeric_host_port() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        HostPort endpoint;
        if (split_host_port(value, endpoint) && is_numeric_address(endpoint.host)) return {};
        return "expected host:port with a numeric IPv4 or [IPv6] address and a port 0..65535, got '" + value + "'";
      },
      "", "");
}

CLI::Validator not_empty(std::string expected) {
  return CLI::Validator([expected](std::string& value) { return value.empty() ? expected : std::string(); }, "", "");
}

CommandLine::CommandLine(std::string program, std::string description)
    : program_(std::move(program)), app_(std::move(description), program_) {
  // Unknown arguments are collected and refused by parse(), with their name.
  app_.allow_extras();
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // A subcommand's version is its program's ("uplink_server provision": uplink_server).
  app_.set_version_flag("--version",
                        std::function<std::string()>(
                            [this] { return version_line(program_.substr(0, program_.find(' ')).c_str()); }),
                        "print the version (and whether TLS and systemd support are built in), exit");
  app_.set_help_flag("-h,--help", "print this help, exit");
  app_.get_formatter()->column_width(34);
}

CLI::Option* CommandLine::text(const std::string& name, std::string& target, const std::string& help,
                               const std::string& type_name, std::string expected) {
  return app_.add_option(name, target, help)->type_name(type_name)->check(not_empty(std::move(expected)));
}

std::optional<int> CommandLine::parse(int argc, const char* const* argv) {
  refusal_.clear();
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app_.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& version) {
    std::printf("%s\n", version.what());
    return 0;
  } catch (const CLI::ParseError& error) {
    // An unknown flag explains a missing required one best ("--upstrem").
    if (const std::optional<int> status = refuse_extras()) return status;
    return refuse(error.what(), {});
  }
  return refuse_extras();
}

std::optional<int> CommandLine::refuse_extras() {
  const std::vector<std::string> extras = app_.remaining();
  if (extras.empty()) return std::nullopt;
  const std::string& first = extras.front();
  if (first.size() > 1 && first.front() == '-') return refuse(first, "unknown flag");
  return refuse("'" + first + "'", "unexpected argument");
}

int CommandLine::refuse(std::string_view flag, std::string_view problem) {
  refusal_ = std::string(flag);
  if (!problem.empty()) refusal_ += ": " + std::string(problem);
  std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(), refusal_.c_str());
  return kExitUsage;
}

}  // namespace uplink::tools
