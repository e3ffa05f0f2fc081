# shaders.cmake - compiles every variant in shaders.list with glslc (SPIR-V
# for Vulkan 1.2), checks it with spirv-val, and embeds the lot into one
# generated C file (EMBER_SHADERS_C) through embed.cmake.
set(EMBER_SHADER_DIR ${CMAKE_SOURCE_DIR}/shaders)
set(EMBER_SPV_DIR ${CMAKE_BINARY_DIR}/shaders)
file(MAKE_DIRECTORY ${EMBER_SPV_DIR})
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${EMBER_SHADER_DIR}/shaders.list)
file(GLOB EMBER_SHADER_INCLUDES CONFIGURE_DEPENDS ${EMBER_SHADER_DIR}/*.glsl)
file(STRINGS ${EMBER_SHADER_DIR}/shaders.list lines)
set(names "")
set(spvs "")
foreach(line ${lines})
  string(STRIP "${line}" line)
  if(line STREQUAL "" OR line MATCHES "^#")
    continue()
  endif()
  string(REGEX REPLACE "[ \t]+" ";" fields "${line}")
  list(GET fields 0 name)
  list(GET fields 1 src)
  list(LENGTH fields nf)
  set(defs "")
  if(nf GREATER 2)
    list(SUBLIST fields 2 -1 defs)
  endif()
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "shaders.list: bad variant name '${name}' (lower case, digits, _)")
  endif()
  set(spv ${EMBER_SPV_DIR}/${name}.spv)
  add_custom_command(OUTPUT ${spv}
    COMMAND ${EMBER_GLSLC} --target-env=vulkan1.2 -O -Werror -I ${EMBER_SHADER_DIR} ${defs}
            -o ${spv} ${EMBER_SHADER_DIR}/${src}
    COMMAND ${EMBER_SPIRV_VAL} --target-env vulkan1.2 ${spv}
    DEPENDS ${EMBER_SHADER_DIR}/${src} ${EMBER_SHADER_INCLUDES} ${EMBER_SHADER_DIR}/shaders.list
    COMMENT "glslc + spirv-val ${name}"
    VERBATIM)
  list(APPEND names ${name})
  list(APPEND spvs ${spv})
endforeach()
set(EMBER_SHADERS_C ${CMAKE_BINARY_DIR}/vk_shaders_data.c)
add_custom_command(OUTPUT ${EMBER_SHADERS_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${EMBER_SHADERS_C} -DSPV_DIR=${EMBER_SPV_DIR} "-DNAMES=${names}"
          -P ${EMBER_SHADER_DIR}/embed.cmake
  DEPENDS ${spvs} ${EMBER_SHADER_DIR}/embed.cmake
  COMMENT "embedding ${EMBER_SHADERS_C}"
  VERBATIM)
