# Script-driven tests: run with bash from the source root, with the built tools
# found through EMBER_BUILD and the ember binary through EMBER_BIN.
# Label "peer": the test needs llama.cpp through node (bench/peer); the sanitizer
# pass of scripts/test.sh leaves those out (ctest -LE peer).
find_program(EMBER_BASH bash REQUIRED)
set(EMBER_SCRIPT_ENV "EMBER_BIN=$<TARGET_FILE:ember>;EMBER_BUILD=${CMAKE_BINARY_DIR}")

add_test(NAME probcmp COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/probcmp_test.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(probcmp PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}")

# Ember against llama.cpp, one test per tensor type so ctest -j runs them side
# by side and a failure names its type.
foreach(type f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q2_k q3_k q4_k q5_k q6_k)
  add_test(NAME conformance_${type} COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only ${type}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(conformance_${type} PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS peer TIMEOUT 600)
  # ... and the AVX2 pair on an AVX-512 machine (skipped where it is the default)
  add_test(NAME conformance_avx2_${type} COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only ${type} --cpu-isa avx2
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(conformance_avx2_${type} PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS peer TIMEOUT 600
                       SKIP_RETURN_CODE 77)
endforeach()

# Files written by `ember quantize` (lm/quantize.h) from an F32 model: what
# llama.cpp computes on them, as for mkmodel's.
add_test(NAME conformance_quantize COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only quantize
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(conformance_quantize PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS peer TIMEOUT 600)

# The same on the Vulkan backend (lavapipe in CI), as the device is and in the
# Raspberry Pi 5 limit mode, with the Khronos validation layer on: any
# validation message fails the run. Each also compares with Ember's CPU backend.
# The limit mode runs every variant and prompt for 16 greedy steps, not 64:
# on lavapipe its GPU-sized kernels make a step 4.5-8x dearer, and what it
# changes (kernel choice and sizing) depends on shapes, not on the step;
# conformance.sh's header ("Cost") has the measurements and the argument.
# Label "peer" keeps all of these out of the sanitizer pass (run once).
if(EMBER_VULKAN)
  foreach(type f32 f16 bf16 q8_0 q4_0)
    add_test(NAME conformance_vk_${type} COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only ${type} --backend vulkan
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(conformance_vk_${type} PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV};EMBER_VK_VALIDATE=1"
                         LABELS "peer;vulkan" TIMEOUT 900)
    add_test(NAME conformance_vk_v3d_${type} COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only ${type} --backend vulkan --gen 16
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(conformance_vk_v3d_${type} PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV};EMBER_VK_VALIDATE=1;EMBER_VK_LIMITS=v3d"
                         LABELS "peer;vulkan" TIMEOUT 900)
  endforeach()
  # The newer block types end to end on lavapipe, one of each kind
  # (test_vk_matmul holds every type's kernels to the exact product): Q5_0
  # and Q6_K, which llama.cpp's K mixes fall back to and bump to on
  # SmolLM2's 576-wide rows, Q4_K, and Q3_K for the 16-value-scale K types
  # (Q2_K reads the same 2-bit layout, with 4-bit scales and mins;
  # ~110 s on lavapipe here).
  foreach(type q5_0 q3_k q4_k q6_k)
    add_test(NAME conformance_vk_${type} COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only ${type} --backend vulkan
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(conformance_vk_${type} PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV};EMBER_VK_VALIDATE=1"
                         LABELS "peer;vulkan" TIMEOUT 900)
  endforeach()
  # Two of them in the Raspberry Pi 5 limit mode too (16 greedy steps, as
  # above): a 32-value type and a K type, whose blocks straddle words
  # differently (22 and 144 bytes).
  foreach(type q5_0 q4_k)
    add_test(NAME conformance_vk_v3d_${type} COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/conformance.sh --only ${type} --backend vulkan --gen 16
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(conformance_vk_v3d_${type} PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV};EMBER_VK_VALIDATE=1;EMBER_VK_LIMITS=v3d"
                         LABELS "peer;vulkan" TIMEOUT 900)
  endforeach()
endif()

# Preprocessing in both modes against independent references (tests/
# preprocess_ref.py, Debian python3-pil and numpy): transformers' Idefics3
# processor with Pillow's LANCZOS (within 1 level; LANCZOS alone byte-equal)
# and a port of mainline llama.cpp's resamplers (bit-exact). The quick set
# runs in the sanitizer pass too; the full one adds large frames (4K, 12 MP).
add_test(NAME preprocess_ref COMMAND ${EMBER_BASH} -c
         "/usr/bin/python3 tests/preprocess_ref.py selftest && /usr/bin/python3 tests/preprocess_ref.py check --quick --tool \"$1\""
         preprocess_ref $<TARGET_FILE:preprocess_dump>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(preprocess_ref PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
add_test(NAME preprocess_ref_full COMMAND /usr/bin/python3 tests/preprocess_ref.py check --tool $<TARGET_FILE:preprocess_dump>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(preprocess_ref_full PROPERTIES LABELS big TIMEOUT 900 SKIP_RETURN_CODE 77)

# The image path (preprocessing, SigLIP, connector, layout, greedy answer)
# against the PyTorch reference tests/vision_ref.py (Debian python3-torch).
add_test(NAME vision_ref COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/vision_ref_test.sh cpu tiny
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(vision_ref PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" TIMEOUT 600 SKIP_RETURN_CODE 77)
# SmolVLM-256M's shapes: minutes under the sanitizers, so labelled "big" (the
# sanitizer pass of scripts/test.sh leaves it out; the release pass runs it).
add_test(NAME vision_ref_256m COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/vision_ref_test.sh cpu 256m
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(vision_ref_256m PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS big TIMEOUT 900 SKIP_RETURN_CODE 77)
if(EMBER_VULKAN)
  add_test(NAME vision_ref_vulkan COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/vision_ref_test.sh vulkan tiny
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(vision_ref_vulkan PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS vulkan TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()

# The shipped default model (assets/ember-default*.gguf, trained by tools/train/):
# PyTorch on the exported files against Ember (prompt positions and greedy
# answers, CPU and lavapipe), the text model against llama.cpp, and `ember eval`
# on a small held-out set with thresholds.
# The trainer's packed batches compute exactly what each item would alone.
add_test(NAME train_pack COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tools/train/test_pack.py)
set_tests_properties(train_pack PROPERTIES TIMEOUT 120)
add_test(NAME default_model_ref COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/default_model_test.sh ref cpu
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(default_model_ref PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS big TIMEOUT 900)
add_test(NAME default_model_eval COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/default_model_test.sh eval
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(default_model_eval PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS big TIMEOUT 900)
# The same code paths with one item per family and one episode: the sanitizer
# pass's share (the full runs above are minutes under ASan's -O0 build).
# libzmq sometimes keeps one message buffer (~240 bytes, allocated inside
# libzmq) past its context's end when the in-process sim and agent close
# their links; LeakSanitizer is told to ignore allocations made in libzmq here.
add_test(NAME default_model_eval_small COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/default_model_test.sh eval-small
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(default_model_eval_small PROPERTIES TIMEOUT 600
  ENVIRONMENT "${EMBER_SCRIPT_ENV};LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/lsan_zmq.supp")
add_test(NAME default_model_peer COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/default_model_test.sh peer
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(default_model_peer PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV}" LABELS peer TIMEOUT 600 SKIP_RETURN_CODE 77)
if(EMBER_VULKAN)
  add_test(NAME default_model_ref_vulkan COMMAND ${EMBER_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/default_model_test.sh ref vulkan
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(default_model_ref_vulkan PROPERTIES ENVIRONMENT "${EMBER_SCRIPT_ENV};EMBER_VK_VALIDATE=1"
                       LABELS "vulkan;big" TIMEOUT 900)
endif()
