// CRC32C (Castagnoli) for NVMe/TCP data digests: the SSE4.2 crc32 instruction on three
// independent lanes at once (one lane is bound by the instruction's 3-cycle latency; three
// keep the unit busy), the lanes joined by advancing a CRC register over a lane of zero bytes,
// which is linear and so four byte-table lookups. About three times a one-lane loop.
#include <node_api.h>
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

/* The CRC register after `p` (no initial or final inversion). */
static uint32_t crc_register(uint32_t crc, const uint8_t *p, size_t n) {
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

NAPI_MODULE_INIT() {
  init_tables();
  napi_value fn;
  napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, crc32c, NULL, &fn);
  napi_set_named_property(env, exports, "crc32c", fn);
  napi_create_function(env, "crc32cRange", NAPI_AUTO_LENGTH, crc32c_range, NULL, &fn);
  napi_set_named_property(env, exports, "crc32cRange", fn);
  napi_create_function(env, "crc32cInto", NAPI_AUTO_LENGTH, crc32c_into, NULL, &fn);
  napi_set_named_property(env, exports, "crc32cInto", fn);
  napi_create_function(env, "prefetch", NAPI_AUTO_LENGTH, prefetch, NULL, &fn);
  napi_set_named_property(env, exports, "prefetch", fn);
  return exports;
}
