# Fuzzing the robot message codec (robot_io/rio_msg.c): the fuzz_rio_msg test.
#
# The project compiles with gcc, which has no libFuzzer, so when a clang that
# links -fsanitize=fuzzer is found, the target is built by calling clang
# directly on the few sources it needs (the codec has no other dependency
# than cJSON), with ASan and UBSan. Without one, the same target is linked
# with fuzz_driver.c (corpus replay plus random mutations) by the project's
# compiler, so the test runs everywhere and never silently disappears.
# Either way the test fuzzes for 30 s on a copy of the seed corpus in the
# build tree (the source tree is never written). tests/fuzz/README.md says
# how to run it longer.

set(EMBER_FUZZ_DIR ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
set(EMBER_FUZZ_BIN ${EMBER_FUZZ_DIR}/fuzz_rio_msg)
set(EMBER_FUZZ_SRC
  ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_rio_msg.c
  ${CMAKE_SOURCE_DIR}/robot_io/rio_msg.c
  ${CMAKE_SOURCE_DIR}/robot_io/rio_util.c
  ${CMAKE_SOURCE_DIR}/core/status.c)
file(MAKE_DIRECTORY ${EMBER_FUZZ_DIR})

find_program(EMBER_FUZZ_CLANG NAMES clang clang-18 clang-17 clang-16 clang-15 clang-14)
if(EMBER_FUZZ_CLANG AND NOT DEFINED EMBER_FUZZ_LIBFUZZER)
  # Probe: does this clang compile and link a libFuzzer target?
  set(probe ${EMBER_FUZZ_DIR}/probe.c)
  file(WRITE ${probe} "#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return n && d[0] == 1; }\n")
  execute_process(COMMAND ${EMBER_FUZZ_CLANG} -fsanitize=fuzzer,address,undefined ${probe} -o ${EMBER_FUZZ_DIR}/probe
                  RESULT_VARIABLE probe_rc OUTPUT_QUIET ERROR_QUIET)
  if(probe_rc EQUAL 0)
    set(EMBER_FUZZ_LIBFUZZER ON CACHE BOOL "Build fuzz targets with clang's libFuzzer")
  else()
    set(EMBER_FUZZ_LIBFUZZER OFF CACHE BOOL "Build fuzz targets with clang's libFuzzer")
  endif()
endif()

if(EMBER_FUZZ_CLANG AND EMBER_FUZZ_LIBFUZZER)
  message(STATUS "fuzz_rio_msg: libFuzzer with ${EMBER_FUZZ_CLANG}")
  set(cjson_flags)
  foreach(dir ${CJSON_INCLUDE_DIRS})
    list(APPEND cjson_flags -I${dir})
  endforeach()
  if(CJSON_LINK_LIBRARIES)
    set(cjson_libs ${CJSON_LINK_LIBRARIES})
  else()
    set(cjson_libs)
    foreach(dir ${CJSON_LIBRARY_DIRS})
      list(APPEND cjson_libs -L${dir})
    endforeach()
    foreach(lib ${CJSON_LIBRARIES})
      list(APPEND cjson_libs -l${lib})
    endforeach()
  endif()
  add_custom_command(OUTPUT ${EMBER_FUZZ_BIN}
    COMMAND ${EMBER_FUZZ_CLANG} -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1
            -I${CMAKE_SOURCE_DIR} ${cjson_flags} ${EMBER_FUZZ_SRC} ${cjson_libs} -lm -o ${EMBER_FUZZ_BIN}
    DEPENDS ${EMBER_FUZZ_SRC} ${CMAKE_SOURCE_DIR}/robot_io/rio_msg.h ${CMAKE_SOURCE_DIR}/robot_io/rio.h
            ${CMAKE_SOURCE_DIR}/core/status.h
    COMMENT "Building fuzz_rio_msg with libFuzzer (clang)"
    VERBATIM)
  add_custom_target(fuzz_rio_msg ALL DEPENDS ${EMBER_FUZZ_BIN})
else()
  message(STATUS "fuzz_rio_msg: no clang with libFuzzer; using tests/fuzz/fuzz_driver.c (random mutations)")
  add_executable(fuzz_rio_msg ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_rio_msg.c ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_driver.c)
  target_link_libraries(fuzz_rio_msg PRIVATE ember_rio)
  set_target_properties(fuzz_rio_msg PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EMBER_FUZZ_DIR})
endif()

add_test(NAME fuzz_rio_msg
  COMMAND sh ${CMAKE_SOURCE_DIR}/tests/fuzz/run_fuzz.sh ${EMBER_FUZZ_BIN}
          ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus_rio_msg ${EMBER_FUZZ_DIR}/work_rio_msg 30
  WORKING_DIRECTORY ${EMBER_FUZZ_DIR})
set_tests_properties(fuzz_rio_msg PROPERTIES LABELS fuzz TIMEOUT 180)
