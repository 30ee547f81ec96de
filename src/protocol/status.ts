// NVMe completion status codes. A status is kept as the 15-bit value the CQE carries above the
// phase bit: SC in bits 7:0, SCT in bits 10:8, DNR in bit 14 (CQE status field >> 1).

export const Sct = { Generic: 0, CommandSpecific: 1, Media: 2, Path: 3 } as const;

export const DNR = 1 << 14;
export const MORE = 1 << 13;

const s = (sct: number, sc: number, dnr = true): number => (sct << 8) | sc | (dnr ? DNR : 0);

export const Status = {
  Success: 0,
  // Generic command status (SCT 0)
  InvalidOpcode: s(0, 0x01),
  InvalidField: s(0, 0x02),
  CommandIdConflict: s(0, 0x03),
  DataTransferError: s(0, 0x04, false),
  InternalError: s(0, 0x06, false),
  AbortRequested: s(0, 0x07, false),
  AbortSqDeleted: s(0, 0x08, false),
  InvalidNamespace: s(0, 0x0b),
  CommandSequenceError: s(0, 0x0c),
  InvalidSglSegmentDescriptor: s(0, 0x0d),
  InvalidSglCount: s(0, 0x0e),
  DataSglLengthInvalid: s(0, 0x0f),
  SglDescriptorTypeInvalid: s(0, 0x11),
  SglOffsetInvalid: s(0, 0x16),
  HostIdInconsistentFormat: s(0, 0x18),
  KeepAliveExpired: s(0, 0x19),
  KeepAliveInvalid: s(0, 0x1a),
  NsWriteProtected: s(0, 0x20),
  TransientTransportError: s(0, 0x22, false),
  // NVM command set generic statuses (SCT 0, 80h..)
  LbaOutOfRange: s(0, 0x80),
  CapacityExceeded: s(0, 0x81),
  NamespaceNotReady: s(0, 0x82, false),
  // Command specific (SCT 1)
  InvalidQueueId: s(1, 0x01),
  InvalidQueueSize: s(1, 0x02),
  AbortLimitExceeded: s(1, 0x03),
  AerLimitExceeded: s(1, 0x05),
  InvalidLogPage: s(1, 0x09),
  FeatureNotSaveable: s(1, 0x0d),
  FeatureNotChangeable: s(1, 0x0e),
  FeatureNotNsSpecific: s(1, 0x0f),
  ConnectIncompatibleFormat: s(1, 0x80),
  ConnectControllerBusy: s(1, 0x81),
  ConnectInvalidParameters: s(1, 0x82),
  ConnectRestartDiscovery: s(1, 0x83),
  ConnectInvalidHost: s(1, 0x84),
  /** Fabrics: a command other than AUTH_Send/AUTH_Receive before the queue authenticated. */
  AuthRequired: s(1, 0x91),
  AttemptedWriteToReadOnlyRange: s(1, 0x82),
  // Key Value Command Set: generic statuses (SCT 0) in the I/O command set range 80h-BFh, next to
  // LBA Out of Range 80h (as SPDK's nvme_spec.h lists them); not command specific.
  KvInvalidValueSize: s(0, 0x85),
  KvInvalidKeySize: s(0, 0x86),
  KvKeyDoesNotExist: s(0, 0x87),
  KvUnrecoveredError: s(0, 0x88),
  KvKeyExists: s(0, 0x89),
  // NVMeVirt / Samsung KV-SSD vendor statuses (SCT 3, no DNR: Samsung's KV SDK compares the
  // status field to these exact values; NVMeVirt answers 310h for a missing key)
  KvVendorValueLengthInvalid: s(3, 0x01, false),
  KvVendorKeyLengthInvalid: s(3, 0x03, false),
  KvVendorKeyNotExist: s(3, 0x10, false),
  KvVendorCapacityExceeded: s(3, 0x12, false),
  KvVendorKeyExists: s(3, 0x80, false),
  KvVendorIterateFailed: s(3, 0x94, false),
  // Zoned Namespace Command Set (command specific, SCT 1, B8h..BFh)
  ZoneBoundaryError: s(1, 0xb8),
  ZoneIsFull: s(1, 0xb9),
  ZoneIsReadOnly: s(1, 0xba),
  ZoneIsOffline: s(1, 0xbb),
  ZoneInvalidWrite: s(1, 0xbc),
  TooManyActiveZones: s(1, 0xbd),
  TooManyOpenZones: s(1, 0xbe),
  InvalidZoneStateTransition: s(1, 0xbf),
  // Media and data integrity errors (SCT 2)
  WriteFault: s(2, 0x80),
  UnrecoveredReadError: s(2, 0x81),
  CompareFailure: s(2, 0x85),
  AccessDenied: s(2, 0x86),
  DeallocatedOrUnwritten: s(2, 0x87),
} as const;

export const statusSct = (status: number): number => (status >> 8) & 0x7;
export const statusSc = (status: number): number => status & 0xff;
export const statusDnr = (status: number): boolean => (status & DNR) !== 0;

/** Human name for logs and error messages. */
export function statusName(status: number): string {
  const base = status & ~(DNR | MORE);
  for (const [k, v] of Object.entries(Status)) if ((v & ~(DNR | MORE)) === base) return k;
  return `sct=${statusSct(status)} sc=0x${statusSc(status).toString(16)}`;
}
