// GoogleTest assertions on Status and Result<T> that print the error.
#pragma once

#include <gtest/gtest.h>

#include "sqlsync/status.h"

namespace sqlsync::testing {

inline const Status& status_of(const Status& status) { return status; }
template <typename T>
const Status& status_of(const Result<T>& result) {
  return result.status();
}

}  // namespace sqlsync::testing

// Fails the test (and returns) unless `expr` (a Status or Result) is ok.
#define ASSERT_OK(expr)                                                                   \
  do {                                                                                    \
    const auto& sqlsync_test_result_ = (expr);                                            \
    ASSERT_TRUE(sqlsync_test_result_.is_ok())                                             \
        << ::sqlsync::testing::status_of(sqlsync_test_result_).to_string();               \
  } while (0)
