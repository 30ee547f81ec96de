// CRC32C (Castagnoli) for NVMe/TCP header and data digests. Two kernels, picked at load:
// - AVX-512 VPCLMULQDQ (where the CPU and OS have it): the data is folded 256 bytes at a time with
//   carry-less multiplies by x^D mod P, four 512-bit accumulators of independent work, then
//   reduced to 32 bits by two crc32 instructions. 4 KiB in ~75 ns in L1, and since it asks for
//   eight cache lines per step, a block still in DRAM costs about what copying it does.
// - SSE4.2: the crc32 instruction on three independent lanes at once (one lane is bound by the
//   instruction's 3-cycle latency; three keep the unit busy), the lanes joined by advancing a CRC
//   register over a lane of zero bytes, which is linear and so four byte-table lookups.
#include <node_api.h>
#include <immintrin.h>
#include <nmmintrin.h>
#include <stdint.h>
#include <string.h>

#define POLY 0x82F63B78u /* reflected Castagnoli polynomial */
#define LANE 1360        /* bytes per lane: 3 lanes cover 4080 of a 4 KiB block */

static uint32_t byte_table[256];
static uint32_t lane_shift[4][256]; /* register after LANE zero bytes, per byte of the register */

static void init_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (POLY & (0u - (c & 1u)));
    byte_table[i] = c;
  }
  uint32_t basis[32];
  for (int i = 0; i < 32; i++) {
    uint32_t r = 1u << i;
    for (int k = 0; k < LANE; k++) r = byte_table[r & 0xff] ^ (r >> 8);
    basis[i] = r;
  }
  for (int k = 0; k < 4; k++) {
    for (int b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int j = 0; j < 8; j++) if (b & (1 << j)) v ^= basis[8 * k + j];
      lane_shift[k][b] = v;
    }
  }
}

static inline uint32_t shift_lane(uint32_t c) {
  return lane_shift[0][c & 0xff] ^ lane_shift[1][(c >> 8) & 0xff] ^ lane_shift[2][(c >> 16) & 0xff] ^ lane_shift[3][c >> 24];
}

/*
 * Folding. A 128-bit lane loaded little-endian holds 16 message bytes with bit i the coefficient of
 * x^(127-i) (reflected: the first bit of the stream is the highest power). A lane A that lies D bits
 * before lane B contributes A(x) x^D, and A = A_hi x^64 + A_lo where A_hi is its low 64 bits, so
 * B + A_hi (x^(64+D) mod P) + A_lo (x^D mod P) is congruent to what the two lanes contribute and
 * fits one lane. A carry-less product of two such 64-bit halves comes out one degree high in this
 * layout, hence the constants x^(n-1) mod P. The final lane R needs R x^32 mod P, which is what
 * two crc32 instructions on its halves compute from a zero register.
 */
#define FOLD_TARGET __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.2")))

/* x^n mod P as a CRC register (bit 31-d is the coefficient of x^d). */
static uint32_t xpow_mod(uint32_t n) {
  uint32_t r = 0x80000000u; /* x^0 */
  for (uint32_t i = 0; i < n; i++) r = (r >> 1) ^ (POLY & (0u - (r & 1u)));
  return r;
}

/* The constant pair folding a lane over D bits: {x^(64+D-1), x^(D-1)} mod P, each with the
   coefficient of x^d at bit 63-d of its 64-bit half (a CRC register shifted up 32). */
typedef struct { uint64_t hi, lo; } fold_k;
static fold_k fold_const(uint32_t d) {
  fold_k k = { (uint64_t)xpow_mod(64 + d - 1) << 32, (uint64_t)xpow_mod(d - 1) << 32 };
  return k;
}
static fold_k k_2048, k_1536, k_1024, k_512, k_384, k_256, k_128;
static int have_fold;

FOLD_TARGET static inline __m512i fold512(__m512i a, fold_k k, __m512i b) {
  const __m512i kk = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)k.lo, (long long)k.hi));
  /* b ^ A_hi*K_hi ^ A_lo*K_lo, per 128-bit lane */
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, kk, 0x00), _mm512_clmulepi64_epi128(a, kk, 0x11), b, 0x96);
}

FOLD_TARGET static inline __m128i fold128(__m128i a, fold_k k, __m128i b) {
  const __m128i kk = _mm_set_epi64x((long long)k.lo, (long long)k.hi);
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, kk, 0x00), _mm_clmulepi64_si128(a, kk, 0x11)), b);
}

/* The register after the first n - n % 256 bytes of p (n >= 256). */
FOLD_TARGET static uint32_t fold_bulk(uint32_t crc, const uint8_t *p, size_t n) {
  __m512i a0 = _mm512_loadu_si512(p), a1 = _mm512_loadu_si512(p + 64), a2 = _mm512_loadu_si512(p + 128), a3 = _mm512_loadu_si512(p + 192);
  a0 = _mm512_xor_si512(a0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc))); /* the register joins the first 32 bits */
  for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
    a0 = fold512(a0, k_2048, _mm512_loadu_si512(p));
    a1 = fold512(a1, k_2048, _mm512_loadu_si512(p + 64));
    a2 = fold512(a2, k_2048, _mm512_loadu_si512(p + 128));
    a3 = fold512(a3, k_2048, _mm512_loadu_si512(p + 192));
  }
  a3 = fold512(a0, k_1536, a3);
  a3 = fold512(a1, k_1024, a3);
  a3 = fold512(a2, k_512, a3);
  __m128i l = _mm512_extracti32x4_epi32(a3, 3);
  l = fold128(_mm512_extracti32x4_epi32(a3, 0), k_384, l);
  l = fold128(_mm512_extracti32x4_epi32(a3, 1), k_256, l);
  l = fold128(_mm512_extracti32x4_epi32(a3, 2), k_128, l);
  uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(l));
  return (uint32_t)_mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(l, 1));
}

static void init_fold(void) {
  __builtin_cpu_init();
  /* __builtin_cpu_supports also checks that the OS saves the AVX-512 state */
  have_fold = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul");
  k_2048 = fold_const(2048);
  k_1536 = fold_const(1536);
  k_1024 = fold_const(1024);
  k_512 = fold_const(512);
  k_384 = fold_const(384);
  k_256 = fold_const(256);
  k_128 = fold_const(128);
}
static int use_fold; /* have_fold, unless setKernel("sse4.2") */

/* The CRC register after `p` (no initial or final inversion). */
static uint32_t crc_register(uint32_t crc, const uint8_t *p, size_t n) {
  if (use_fold && n >= 256) {
    crc = fold_bulk(crc, p, n);
    p += n - n % 256;
    n %= 256;
  }
  while (n >= 3 * LANE) {
    uint64_t a = crc, b = 0, c = 0;
    for (size_t i = 0; i < LANE; i += 8) {
      uint64_t x, y, z;
      memcpy(&x, p + i, 8);
      memcpy(&y, p + LANE + i, 8);
      memcpy(&z, p + 2 * LANE + i, 8);
      a = _mm_crc32_u64(a, x);
      b = _mm_crc32_u64(b, y);
      c = _mm_crc32_u64(c, z);
    }
    /* register(A || B || C) = shift(shift(reg(A)) ^ reg0(B)) ^ reg0(C) */
    crc = shift_lane(shift_lane((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
    p += 3 * LANE;
    n -= 3 * LANE;
  }
  uint64_t r = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x;
    memcpy(&x, p, 8);
    r = _mm_crc32_u64(r, x);
  }
  crc = (uint32_t)r;
  for (; n > 0; p++, n--) crc = _mm_crc32_u8(crc, *p);
  return crc;
}

/* The bytes of a Uint8Array (or Buffer) argument; 0 for anything else. */
static int bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = (uint8_t *)p;
  return 1;
}

/* crc32c(data: Uint8Array, initial?: number): number, continuing from `initial` like @node-rs/crc32. */
static napi_value crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "crc32c(data, initial?)");
    return NULL;
  }
  uint8_t *data;
  size_t len;
  if (!bytes_of(env, args[0], &data, &len)) {
    napi_throw_type_error(env, NULL, "crc32c: data must be a Uint8Array or Buffer");
    return NULL;
  }
  uint32_t initial = 0;
  if (argc > 1 && napi_get_value_uint32(env, args[1], &initial) != napi_ok) initial = 0;
  napi_value out;
  napi_create_uint32(env, ~crc_register(~initial, data, len), &out);
  return out;
}

/* crc32cRange(buf, start, end): CRC32C of buf[start, end) with no view made for it. */
static napi_value crc32c_range(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  uint8_t *data;
  size_t len;
  uint32_t start = 0, end = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 3 || !bytes_of(env, args[0], &data, &len) ||
      napi_get_value_uint32(env, args[1], &start) != napi_ok || napi_get_value_uint32(env, args[2], &end) != napi_ok ||
      start > end || end > len) {
    napi_throw_range_error(env, NULL, "crc32cRange(buf, start, end): a Uint8Array and 0 <= start <= end <= length");
    return NULL;
  }
  napi_value out;
  napi_create_uint32(env, ~crc_register(~0u, data + start, end - start), &out);
  return out;
}

/* crc32cInto(data, out, outOffset): the CRC32C of data into out[outOffset, +4), little-endian (a data digest as it goes on the wire). */
static napi_value crc32c_into(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  uint8_t *data, *out;
  size_t len, outLen;
  uint32_t off = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 3 ||
      !bytes_of(env, args[0], &data, &len) || !bytes_of(env, args[1], &out, &outLen) ||
      napi_get_value_uint32(env, args[2], &off) != napi_ok || (size_t)off + 4 > outLen) {
    napi_throw_range_error(env, NULL, "crc32cInto(data, out, outOffset): Uint8Arrays, 4 bytes at outOffset");
    return NULL;
  }
  uint32_t crc = ~crc_register(~0u, data, len);
  uint8_t *o = out + off;
  o[0] = (uint8_t)crc;
  o[1] = (uint8_t)(crc >> 8);
  o[2] = (uint8_t)(crc >> 16);
  o[3] = (uint8_t)(crc >> 24);
  return NULL;
}

/* prefetch(data): ask the cache for the first 4 KiB of data (its digest is computed at flush). */
static napi_value prefetch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  uint8_t *data;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) == napi_ok && argc == 1 && bytes_of(env, arg, &data, &len)) {
    if (len > 4096) len = 4096;
    for (size_t i = 0; i < len; i += 64) _mm_prefetch((const char *)data + i, _MM_HINT_T0);
  }
  return NULL;
}

static napi_value kernel_name(napi_env env) {
  napi_value v;
  napi_create_string_utf8(env, use_fold ? "AVX-512 VPCLMULQDQ" : "SSE4.2, 3 lanes", NAPI_AUTO_LENGTH, &v);
  return v;
}

/* setKernel(name?): "sse4.2" forces the 3-lane kernel, anything else the fastest this CPU has; returns the kernel in use. */
static napi_value set_kernel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  char name[16] = "";
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) == napi_ok && argc == 1) napi_get_value_string_utf8(env, arg, name, sizeof name, &len);
  use_fold = have_fold && strcmp(name, "sse4.2") != 0;
  return kernel_name(env);
}

NAPI_MODULE_INIT() {
  init_tables();
  init_fold();
  use_fold = have_fold;
  napi_value fn;
  napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, crc32c, NULL, &fn);
  napi_set_named_property(env, exports, "crc32c", fn);
  napi_create_function(env, "crc32cRange", NAPI_AUTO_LENGTH, crc32c_range, NULL, &fn);
  napi_set_named_property(env, exports, "crc32cRange", fn);
  napi_create_function(env, "crc32cInto", NAPI_AUTO_LENGTH, crc32c_into, NULL, &fn);
  napi_set_named_property(env, exports, "crc32cInto", fn);
  napi_create_function(env, "prefetch", NAPI_AUTO_LENGTH, prefetch, NULL, &fn);
  napi_set_named_property(env, exports, "prefetch", fn);
  napi_create_function(env, "setKernel", NAPI_AUTO_LENGTH, set_kernel, NULL, &fn);
  napi_set_named_property(env, exports, "setKernel", fn);
  return exports;
}
