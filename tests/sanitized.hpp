#pragma once
// LAMINA_TEST_SANITIZED: 1 under AddressSanitizer or ThreadSanitizer. Their runtimes own operator new: it cannot be
// replaced, and an absurd request aborts instead of throwing std::bad_alloc. Tests relying on either check this.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LAMINA_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LAMINA_TEST_SANITIZED 1
#endif
#endif
#ifndef LAMINA_TEST_SANITIZED
#define LAMINA_TEST_SANITIZED 0
#endif
