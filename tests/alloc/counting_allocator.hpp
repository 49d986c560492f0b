#pragma once
// The allocation-count tests (lamina_alloc_tests) link counting_allocator.cpp, which replaces the global allocation
// functions with counting ones. Its own binary, so the count sees nothing but these tests.
namespace lamina::test {

// Heap allocations (every operator new form, all threads) since the program started.
long allocations();

}  // namespace lamina::test
