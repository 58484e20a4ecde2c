// SPDX-License-Identifier: Apache-2.0
// `uplink_server provision`: adds a device to a credentials file, rotates
// its token, or revokes it (credentials_file.hpp).
#pragma once

namespace uplink::server {

/// Runs `provision` with its own arguments (argv[0] is "provision"):
///
///   provision --credentials FILE --device ID [--token-file OUT] [--iterations N]
///   provision --credentials FILE --device ID --revoke
///
/// A missing FILE is created (mode 0600); an existing one must load
/// cleanly (CredentialsFile::load) and is replaced atomically. The new
/// token is printed once on stdout (alone on its line), or written to OUT
/// (created or replaced, mode 0600) and not printed. Exit status: 0 done,
/// 1 failed (a message on stderr names the file and the problem), 2 bad usage
/// (tools/service/command_line.hpp: --help, --version as every tool).
int run_provision(int argc, char** argv);

}  // namespace uplink::server
