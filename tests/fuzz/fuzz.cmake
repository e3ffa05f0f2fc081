# Fuzz targets: the robot message codec (robot_io/rio_msg*.c, fuzz_rio_msg)
# and the image decoders (vision/png.c, vision/jpeg.c with vision/exif.c:
# fuzz_png, fuzz_jpeg), each a ctest test labelled `fuzz`.
#
# The project compiles with gcc, which has no libFuzzer, so when a clang that
# links -fsanitize=fuzzer is found, a target is built by calling clang
# directly on the few sources it needs (the codec needs only cJSON, the
# decoders libpng and libjpeg), with ASan and UBSan. Without one, the same
# target is linked with fuzz_driver.c (corpus replay plus random mutations)
# by the project's compiler, so the test runs everywhere and never silently
# disappears. Either way the test fuzzes for a fixed time on a copy of the
# seed corpus tests/fuzz/corpus_<name> in the build tree (the source tree is
# never written). tests/fuzz/README.md says how to run them longer.

set(EMBER_FUZZ_DIR ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
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

# Compiler and linker flags for clang from a pkg_check_modules prefix
# (CJSON, PNG, JPEG): -I for its include dirs into <cflags_var>, the
# libraries into <libs_var> (full paths when pkg-config resolved them).
function(ember_fuzz_pkg_flags prefix cflags_var libs_var)
  set(cflags)
  foreach(dir ${${prefix}_INCLUDE_DIRS})
    list(APPEND cflags -I${dir})
  endforeach()
  if(${prefix}_LINK_LIBRARIES)
    set(libs ${${prefix}_LINK_LIBRARIES})
  else()
    set(libs)
    foreach(dir ${${prefix}_LIBRARY_DIRS})
      list(APPEND libs -L${dir})
    endforeach()
    foreach(lib ${${prefix}_LIBRARIES})
      list(APPEND libs -l${lib})
    endforeach()
  endif()
  set(${cflags_var} ${cflags} PARENT_SCOPE)
  set(${libs_var} ${libs} PARENT_SCOPE)
endfunction()

# ember_fuzz_target(<name> SECONDS <s> SOURCES <.c ...> HEADERS <.h ...>
#                   PKGS <prefix ...> FALLBACK_LIBS <target ...>)
# Builds tests/fuzz/<name>.c into ${EMBER_FUZZ_DIR}/<name>: with libFuzzer,
# from SOURCES (the project files it needs) and the PKGS' flags, rebuilt
# when any of them or HEADERS change; otherwise with fuzz_driver.c, linked
# to FALLBACK_LIBS. Registers the test <name>, which fuzzes for SECONDS on
# tests/fuzz/corpus_<name without "fuzz_">.
function(ember_fuzz_target name)
  cmake_parse_arguments(F "" "SECONDS" "SOURCES;HEADERS;PKGS;FALLBACK_LIBS" ${ARGN})
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  set(bin ${EMBER_FUZZ_DIR}/${name})
  set(main ${CMAKE_SOURCE_DIR}/tests/fuzz/${name}.c)
  if(EMBER_FUZZ_CLANG AND EMBER_FUZZ_LIBFUZZER)
    message(STATUS "${name}: libFuzzer with ${EMBER_FUZZ_CLANG}")
    set(pkg_cflags)
    set(pkg_libs)
    foreach(pkg ${F_PKGS})
      ember_fuzz_pkg_flags(${pkg} c l)
      list(APPEND pkg_cflags ${c})
      list(APPEND pkg_libs ${l})
    endforeach()
    add_custom_command(OUTPUT ${bin}
      COMMAND ${EMBER_FUZZ_CLANG} -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1
              -I${CMAKE_SOURCE_DIR} ${pkg_cflags} ${main} ${F_SOURCES} ${pkg_libs} -lm -o ${bin}
      DEPENDS ${main} ${F_SOURCES} ${F_HEADERS}
      COMMENT "Building ${name} with libFuzzer (clang)"
      VERBATIM)
    add_custom_target(${name} ALL DEPENDS ${bin})
  else()
    message(STATUS "${name}: no clang with libFuzzer; using tests/fuzz/fuzz_driver.c (random mutations)")
    add_executable(${name} ${main} ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_driver.c)
    target_link_libraries(${name} PRIVATE ${F_FALLBACK_LIBS})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EMBER_FUZZ_DIR})
  endif()
  add_test(NAME ${name}
    COMMAND sh ${CMAKE_SOURCE_DIR}/tests/fuzz/run_fuzz.sh ${bin}
            ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus_${short} ${EMBER_FUZZ_DIR}/work_${short} ${F_SECONDS}
    WORKING_DIRECTORY ${EMBER_FUZZ_DIR})
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 180)
endfunction()

ember_fuzz_target(fuzz_rio_msg SECONDS 30
  SOURCES ${CMAKE_SOURCE_DIR}/robot_io/rio_msg.c ${CMAKE_SOURCE_DIR}/robot_io/rio_msg_decode.c
          ${CMAKE_SOURCE_DIR}/robot_io/rio_msg_encode.c ${CMAKE_SOURCE_DIR}/robot_io/rio_util.c
          ${CMAKE_SOURCE_DIR}/core/status.c
  HEADERS ${CMAKE_SOURCE_DIR}/robot_io/rio_msg.h ${CMAKE_SOURCE_DIR}/robot_io/rio_msg_codec.h ${CMAKE_SOURCE_DIR}/robot_io/rio.h
          ${CMAKE_SOURCE_DIR}/core/status.h
  PKGS CJSON
  FALLBACK_LIBS ember_rio)

# The decoders run 20 s each: they are slower per input than the codec, and
# libpng/libjpeg themselves are not instrumented, so coverage grows mostly
# in the first seconds; run them longer by hand (README.md).
set(EMBER_FUZZ_VISION_SRC
  ${CMAKE_SOURCE_DIR}/vision/image.c ${CMAKE_SOURCE_DIR}/vision/png.c ${CMAKE_SOURCE_DIR}/vision/jpeg.c
  ${CMAKE_SOURCE_DIR}/vision/exif.c ${CMAKE_SOURCE_DIR}/core/status.c)
set(EMBER_FUZZ_VISION_H
  ${CMAKE_SOURCE_DIR}/vision/image.h ${CMAKE_SOURCE_DIR}/vision/exif.h ${CMAKE_SOURCE_DIR}/core/status.h)
foreach(name fuzz_png fuzz_jpeg)
  ember_fuzz_target(${name} SECONDS 20
    SOURCES ${EMBER_FUZZ_VISION_SRC}
    HEADERS ${EMBER_FUZZ_VISION_H}
    PKGS PNG JPEG
    FALLBACK_LIBS ember_vision)
endforeach()

# The GBNF parser and matcher (lm/gbnf_parse.c, lm/grammar.c): grammars from
# users' files; 20 s.
ember_fuzz_target(fuzz_gbnf SECONDS 20
  SOURCES ${CMAKE_SOURCE_DIR}/lm/gbnf_parse.c ${CMAKE_SOURCE_DIR}/lm/grammar.c ${CMAKE_SOURCE_DIR}/core/status.c
  HEADERS ${CMAKE_SOURCE_DIR}/lm/grammar.h ${CMAKE_SOURCE_DIR}/lm/grammar_internal.h ${CMAKE_SOURCE_DIR}/lm/generate.h
          ${CMAKE_SOURCE_DIR}/lm/vocab.h ${CMAKE_SOURCE_DIR}/core/status.h
  FALLBACK_LIBS ember_lib)
