// CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF), computed a
// nibble at a time from a 16-entry table: 64 bytes of table instead of 1 KB of a microcontroller's heap.

const NIBBLE_TABLE = (() => {
  const table = new Uint32Array(16);
  for (let n = 0; n < 16; n++) {
    let c = n;
    for (let k = 0; k < 4; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i];
    crc = NIBBLE_TABLE[crc & 0x0f] ^ (crc >>> 4);
    crc = NIBBLE_TABLE[crc & 0x0f] ^ (crc >>> 4);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
