// SPDX-License-Identifier: Apache-2.0
// Entry point of every CppUTest binary: runs the groups selected on the
// command line (CTest passes -sg <group>).
#include <CppUTest/CommandLineTestRunner.h>

int main(int argc, char** argv) { return CommandLineTestRunner::RunAllTests(argc, argv); }
