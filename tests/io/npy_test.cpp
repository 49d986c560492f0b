// write_npy against the .npy format specification (numpy/lib/format.py, version 1.0).
#include "lamina/io/npy.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

TEST_CASE("write_npy writes a version 1.0 .npy file", "[io][npy]") {
    const auto path = std::filesystem::temp_directory_path() / ("lamina_npy_test_" + std::to_string(::getpid()) + ".npy");
    const float values[] = {1.f, -2.f, 0.5f, 3.f, 4.f, 5.f};
    const std::int64_t shape[] = {2, 3};
    lamina::write_npy(path.string(), values, shape);
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(path);

    REQUIRE(bytes.size() > 10);
    CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    const std::size_t header_len = std::uint8_t(bytes[8]) | std::uint8_t(bytes[9]) << 8;
    CHECK((10 + header_len) % 64 == 0);  // the data starts 64-byte aligned
    const std::string header = bytes.substr(10, header_len);
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,3), }";
    REQUIRE(header_len > dict.size());
    CHECK(header == dict + std::string(header_len - dict.size() - 1, ' ') + "\n");
    REQUIRE(bytes.size() == 10 + header_len + sizeof values);
    CHECK(std::memcmp(bytes.data() + 10 + header_len, values, sizeof values) == 0);

    const float bad[] = {1.f};
    CHECK_THROWS_WITH(lamina::write_npy(path.string(), bad, shape), Catch::Matchers::Contains("1 values for shape (2,3)"));
    CHECK_THROWS_WITH(lamina::write_npy("/nonexistent/dir/x.npy", values, shape), Catch::Matchers::Contains("cannot create"));
}
