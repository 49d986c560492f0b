#pragma once
// The `lamina` subcommands. Each lives in its own file (info.cpp, forward.cpp, …) and is listed once in main.cpp's
// table; a command reads its options from Args and returns the exit status.
#include "args.hpp"

namespace lamina::cli {

struct Command {
    const char* name;
    const char* usage;
    std::set<std::string> switches;  // options without a value
    int (*run)(Args&);
};

int run_info(Args& args);
int run_forward(Args& args);
int run_generate(Args& args);
int run_bench(Args& args);
int run_quantize(Args& args);

}  // namespace lamina::cli
