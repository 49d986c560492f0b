# Runs the CLI with ARGS and passes iff it exits non-zero with exactly one stderr line "lamina: error: …" containing
# MESSAGE, and nothing on stdout.
execute_process(COMMAND ${CLI} ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(status EQUAL 0)
  message(FATAL_ERROR "expected failure, got exit 0; stdout: ${out}")
endif()
string(FIND "${err}" "${MESSAGE}" at)
string(REGEX MATCHALL "\n" newlines "${err}")
list(LENGTH newlines lines)
if(NOT err MATCHES "^lamina: error: " OR at EQUAL -1 OR NOT lines EQUAL 1 OR NOT out STREQUAL "")
  message(FATAL_ERROR "exit ${status}; expected one line 'lamina: error: ...${MESSAGE}...', got stderr: ${err} stdout: ${out}")
endif()
message(STATUS "ok: ${err}")
