/* reduce.glsl - workgroup-wide sum and max of one float per invocation, for
 * a 1-D workgroup whose size (specialization constant 0) is a power of two.
 * With EM_SUBGROUP, subgroups reduce first and one value per subgroup goes
 * through shared memory; without, a shared-memory tree does it all, which
 * works for any subgroup size (the Raspberry Pi 5's 16, lavapipe's 8, ...).
 * Every invocation of the workgroup must call these (they contain barriers)
 * and gets the result. */
shared float em_red[gl_WorkGroupSize.x];

float em_wg_sum(float v) {
#ifdef EM_SUBGROUP
    v = subgroupAdd(v);
    if (gl_SubgroupInvocationID == 0u) em_red[gl_SubgroupID] = v;
    barrier();
    float s = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; i++) s += em_red[i];
    barrier();
    return s;
#else
    const uint lid = gl_LocalInvocationID.x;
    em_red[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
        if (lid < s) em_red[lid] += em_red[lid + s];
        barrier();
    }
    const float r = em_red[0];
    barrier();
    return r;
#endif
}

float em_wg_max(float v) {
#ifdef EM_SUBGROUP
    v = subgroupMax(v);
    if (gl_SubgroupInvocationID == 0u) em_red[gl_SubgroupID] = v;
    barrier();
    float m = em_red[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++) m = max(m, em_red[i]);
    barrier();
    return m;
#else
    const uint lid = gl_LocalInvocationID.x;
    em_red[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
        if (lid < s) em_red[lid] = max(em_red[lid], em_red[lid + s]);
        barrier();
    }
    const float r = em_red[0];
    barrier();
    return r;
#endif
}
