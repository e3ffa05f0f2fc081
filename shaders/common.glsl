/* common.glsl - what every Ember compute shader shares.
 *
 * Bindings (see core/vulkan/vk_internal.h): binding 0 is the params uniform block,
 * declared by each shader as
 *     layout(set = 0, binding = 0, std140) uniform Params { uint n; ... } P;
 * with scalar members only; bindings 1.. are storage buffers.
 * Specialization constants 0..2 are the workgroup size.
 *
 * Storage is read as 32-bit words everywhere, and 16-bit and 8-bit values
 * are unpacked with bit operations: that needs no 16-/8-bit storage feature,
 * so one source runs on every Vulkan 1.2 device down to the Raspberry Pi 5's
 * V3D. Arithmetic is fp32 unless a variant says otherwise.
 *
 * Variant switches, set with -D by shaders.list:
 *   EM_SUBGROUP   reductions use subgroupAdd/subgroupMax (needs the
 *                 arithmetic subgroup feature); without it they go through
 *                 shared memory only, for any subgroup size. */
#extension GL_EXT_control_flow_attributes : enable
#ifdef EM_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

/* An fp16 value at byte offset b of a uint[] buffer (b even). */
#define EM_LOAD_F16(buf, b) unpackHalf2x16((buf[(b) >> 2] >> (((b) & 2u) << 3)) & 0xffffu).x
/* A bf16 value at byte offset b (b even): the high half of an fp32. */
#define EM_LOAD_BF16(buf, b) uintBitsToFloat(((buf[(b) >> 2] >> (((b) & 2u) << 3)) & 0xffffu) << 16)
/* A signed byte at byte offset b. */
#define EM_LOAD_I8(buf, b) bitfieldExtract(int(buf[(b) >> 2]), int(((b) & 3u) << 3), 8)
/* An unsigned byte at byte offset b. */
#define EM_LOAD_U8(buf, b) bitfieldExtract(buf[(b) >> 2], int(((b) & 3u) << 3), 8)
/* 32 bits starting at byte offset b, b a multiple of 2 (quant blocks are
 * 2-byte aligned: 34 bytes for Q8_0, 18 for Q4_0). */
#define EM_LOAD_U32_A2(buf, b) \
    (((b) & 2u) == 0u ? buf[(b) >> 2] : ((buf[(b) >> 2] >> 16) | (buf[((b) >> 2) + 1u] << 16)))

/* v rounded to the nearest fp16 value (ties to even), kept as fp32: what
 * the CPU backend (and llama.cpp's CPU kernels) do to an activation before a
 * product with F16 data. With bit operations, as packHalf2x16's rounding is
 * left to the implementation. */
float em_round_f16(float v) {
    const uint u = floatBitsToUint(v), a = u & 0x7fffffffu;
    uint r = (a + 0xfffu + ((a >> 13) & 1u)) & 0xffffe000u; /* 11 significant bits */
    r = mix(r, 0x7f800000u, r >= 0x47800000u);               /* past 65504: inf */
    /* Below 2^-14 fp16 is subnormal: multiples of 2^-24 (exact in fp32). */
    const float sub = roundEven(uintBitsToFloat(a) * 16777216.0) * uintBitsToFloat(0x33800000u);
    r = mix(r, floatBitsToUint(sub), a < 0x38800000u);
    r = mix(r, a, a > 0x7f800000u);                          /* NaN stays */
    return uintBitsToFloat((u & 0x80000000u) | r);
}
