# Runs the CLI twice (ARGS_A, ARGS_B, each with --print-ids) and passes iff both exit 0 and print the same last stdout
# line (the generated ids): an invariant between two ways of getting the same model, e.g. a quantized checkpoint
# written by `lamina quantize` vs quantizing at load with --quantize.
foreach(run A B)
  execute_process(COMMAND ${CLI} ${ARGS_${run}} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "run ${run} failed (${status}): ${err}")
  endif()
  string(STRIP "${out}" out)
  string(REGEX REPLACE ".*\n" "" last_${run} "${out}")
endforeach()
if(NOT last_A STREQUAL last_B OR last_A STREQUAL "")
  message(FATAL_ERROR "ids differ: '${last_A}' vs '${last_B}'")
endif()
message(STATUS "same ids: ${last_A}")
